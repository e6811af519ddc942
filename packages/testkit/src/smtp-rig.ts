/**
 * Loopback rig for the SMTP/LMTP client tests (plugin-smtp and plugin-lmtp): smtp-server instances on loopback as
 * the remote hosts, a resolver that maps test names to them, an in-memory
 * message and agent context, and a logger that keeps the lines.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SMTPServer, type SMTPServerOptions, type SMTPServerSession } from 'smtp-server';
import { createConfigView, ParameterRegistry, parseMainCf, ServiceClients, type AgentContext, type DeliveryRequest, type HostAddress, type MessageSource, type MxRecord, type NameResolver } from '@postern/core';
import { createSmtpClient, clientParameters, tlsSessionCache, type ClientProtocol, type SmtpClient } from '@postern/smtp-client';
import { createTableRegistry } from '@postern/tables';
import { MemoryLogger as TestLog } from '@postern/core';

export { MemoryLogger as TestLog } from '@postern/core';

export interface Received {
  from: string;
  mailArgs: Record<string, unknown>;
  to: string[];
  rcptArgs: Record<string, unknown>[];
  data: Buffer;
  secure: boolean;
  user?: string;
  /** XFORWARD attributes the client sent in this session (with useXForward). */
  xforward?: Record<string, string>;
}

export interface TestServer {
  readonly port: number;
  readonly received: Received[];
  connections: number;
  close(): Promise<void>;
}

const xforwardOf = (session: SMTPServerSession): Record<string, string> | undefined => {
  const m = (session as { xForward?: Map<string, string> }).xForward;
  return m && m.size ? Object.fromEntries([...m].filter(([k]) => !k.includes(':'))) : undefined;
};

/** An smtp-server on 127.0.0.1 (or a unix socket) that keeps what it receives. */
export async function testServer(
  options: Partial<SMTPServerOptions> & { rcpt?: (addr: string) => Error | undefined; reply?: (r: Received) => string | (string | Error)[] | Error } = {},
  listen: { path?: string } = {},
): Promise<TestServer> {
  const received: Received[] = [];
  const { rcpt, reply, ...opts } = options;
  const state = { connections: 0 };
  const server = new SMTPServer({
    logger: false,
    disableReverseLookup: true,
    authOptional: true,
    hideSTARTTLS: !opts.key,
    ...opts,
    onConnect(_s, cb) {
      state.connections++;
      cb();
    },
    onRcptTo(address, _session, cb) {
      const err = rcpt?.(address.address);
      cb(err ?? undefined);
    },
    onData(stream, session: SMTPServerSession, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const r: Received = {
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          mailArgs: (session.envelope.mailFrom && (session.envelope.mailFrom as { args?: Record<string, unknown> }).args) || {},
          to: session.envelope.rcptTo.map((x) => x.address),
          rcptArgs: session.envelope.rcptTo.map((x) => (x as { args?: Record<string, unknown> }).args || {}),
          data: Buffer.concat(chunks),
          secure: session.secure,
          ...(session.user !== undefined && { user: String(session.user) }),
          ...(xforwardOf(session) && { xforward: xforwardOf(session) }),
        };
        received.push(r);
        const out = reply ? reply(r) : 'Ok: queued as TESTID';
        if (out instanceof Error) cb(out);
        else cb(null, out as never);
      });
    },
  });
  server.on('error', () => {});
  await new Promise<void>((resolve) => (listen.path ? server.listen(listen.path, resolve) : server.listen(0, '127.0.0.1', resolve)));
  const addr = server.server.address();
  return {
    port: typeof addr === 'object' && addr ? addr.port : 0,
    received,
    get connections() {
      return state.connections;
    },
    set connections(v) {
      state.connections = v;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** An SMTP error with a reply code, as smtp-server sends it. */
export function smtpError(code: number, text: string): Error {
  return Object.assign(new Error(text), { responseCode: code });
}

/** A resolver over fixed tables: MX records and host addresses (with ports). */
export function testResolver(mx: Record<string, MxRecord[]>, hosts: Record<string, HostAddress[]>): NameResolver & { queries: string[] } {
  const queries: string[] = [];
  return {
    queries,
    async mx(domain) {
      queries.push(`MX ${domain}`);
      if (mx[domain]) return { status: 'ok', records: mx[domain]! };
      if (hosts[domain]) return { status: 'ok', records: [] };
      return { status: 'notfound', reason: `Host or domain name not found. Name service error for name=${domain} type=MX: Host not found` };
    },
    async addresses(host) {
      queries.push(`A ${host}`);
      const list = hosts[host];
      return list ? { status: 'ok', records: list } : { status: 'notfound', reason: `Host or domain name not found. Name service error for name=${host} type=A: Host not found` };
    },
  };
}

export const local = (port: number, address = '127.0.0.1'): HostAddress[] => [{ address, family: 4, port }];

export interface Client {
  client: SmtpClient;
  log: TestLog;
  dir: string;
  deliver(request: Partial<DeliveryRequest>, content?: string | Buffer): Promise<{ results: Awaited<ReturnType<SmtpClient['deliver']>>; down: boolean }>;
  close(): void;
}

/** A client with main.cf text `maincf` and `resolver`. */
export function testClient(maincf: string, resolver: NameResolver, protocol: ClientProtocol = 'smtp'): Client {
  const dir = mkdtempSync(join(tmpdir(), `postern-${protocol}-`));
  const registry = ParameterRegistry.withCore();
  registry.declare(`@postern/plugin-${protocol}`, clientParameters(protocol));
  if (protocol === 'lmtp') registry.declare('@postern/plugin-smtp', clientParameters('smtp'));
  const config = createConfigView({
    registry,
    configDirectory: dir,
    // queue_directory in the test's own directory: never the services of a Postfix or Postern installed here
    mainCf: parseMainCf(`myhostname = client.test\nmydestination =\nqueue_directory = ${dir}\n${maincf.replace(/\$DIR/g, dir)}\n`),
  });
  const log = new TestLog();
  // queue_directory has no tlsmgr socket: the TLS session cache stays in this process
  const client = createSmtpClient({ protocol, config, log, tables: createTableRegistry({}), resolver, tlsCache: tlsSessionCache(new ServiceClients(config), protocol, log) });
  return {
    client,
    log,
    dir,
    async deliver(over, content = 'Subject: test\nFrom: sender@origin.test\nTo: rcpt@dest.test\n\nHello.\n') {
      const body = Buffer.isBuffer(content) ? content : Buffer.from(content);
      const request: DeliveryRequest = {
        queueId: '4ABCDEF012',
        queueName: 'active',
        transport: protocol,
        nexthop: 'dest.test',
        sender: 'sender@origin.test',
        recipients: [{ index: 0, address: 'rcpt@dest.test' }],
        arrivalTime: Date.now(),
        size: body.length,
        ...over,
      };
      const message: MessageSource = {
        queueId: request.queueId,
        size: body.length,
        async *stream() {
          yield body;
        },
        buffer: async () => body,
      };
      let down = false;
      const agent: AgentContext = {
        service: protocol,
        config,
        log,
        signal: new AbortController().signal,
        connected() {},
        destinationDown() {
          down = true;
        },
      };
      const results = await client.deliver(request, message, agent);
      return { results: [...results].sort((a, b) => a.index - b.index), down };
    },
    close() {
      client.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Writes a main.cf-style file in `dir` and returns its path. */
export function writeFile(dir: string, name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

export interface Pki {
  dir: string;
  caCert: string;
  otherCaCert: string;
  cert(name: string): { cert: string; key: string };
}

/** A CA and server certificates made with openssl. */
export function makePki(): Pki {
  const dir = mkdtempSync(join(tmpdir(), 'postern-pki-'));
  const run = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ca = (n: string) => {
    run('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${n}.key`, '-out', `${n}.pem`, '-days', '2', '-subj', `/CN=${n}`);
  };
  ca('ca');
  ca('otherca');
  return {
    dir,
    caCert: join(dir, 'ca.pem'),
    otherCaCert: join(dir, 'otherca.pem'),
    cert(name) {
      writeFileSync(join(dir, `${name}.ext`), `subjectAltName=DNS:${name}\n`);
      run('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
      run('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.pem`, '-days', '2', '-extfile', `${name}.ext`);
      return { cert: join(dir, `${name}.pem`), key: join(dir, `${name}.key`) };
    },
  };
}
