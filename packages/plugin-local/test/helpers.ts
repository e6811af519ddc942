/**
 * Test fixtures for local(8): a temp tree with a passwd file, spool and
 * home directories, a config view from main.cf text, a table registry
 * reading that passwd file, lmdb alias tables built like postalias, a
 * recording cleanup service on a real unix socket, and an mbox parser.
 *
 * Privileges: when the tests run as root, users map to uid/gid 65534
 * (nobody) and the tree is world-writable, so deliveries really switch
 * uid; otherwise users map to the current uid.
 */
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createConfigView, parseMainCf, ParameterRegistry, serveCleanup, startServiceInProcess, type AgentContext, type CleanupRequest, type ConfigView, type DeliveryRequest, type Logger, type MasterEntry, type MessageSource, type ParameterSpec, type TableRegistry, ServiceClients, cleanupClient } from '@postern/core';
import { collectEntries, createTableRegistry, LmdbTable, parseAliasSource } from '@postern/tables';

/** The service connections this test opens (each closed by closeClients()). */
const openClients: ServiceClients[] = [];
const clientsOf = (config: ConfigView): ServiceClients => {
  const c = new ServiceClients(config);
  openClients.push(c);
  return c;
};
const closeClients = (): void => openClients.splice(0).forEach((c) => c.close());
/** Forwarded mail goes to the fixture's cleanup socket, over a client this fixture closes. */
export const testCleanup = (config: ConfigView) => () => cleanupClient(clientsOf(config));

export const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
export const TEST_UID = isRoot ? 65534 : process.getuid!();
export const TEST_GID = isRoot ? 65534 : process.getgid!();

export interface LogLines extends Logger {
  readonly lines: string[];
}

export function testLogger(): LogLines {
  const lines: string[] = [];
  const log: LogLines = {
    lines,
    info: (t) => void lines.push(t),
    warn: (t) => void lines.push(`warning: ${t}`),
    error: (t) => void lines.push(`error: ${t}`),
    fatal: (t) => void lines.push(`fatal: ${t}`),
    panic: (t) => void lines.push(`panic: ${t}`),
    debug: () => undefined,
    verbose: false,
    child: () => log,
  };
  return log;
}

export interface Fixture {
  readonly dir: string;
  readonly spool: string;
  readonly queue: string;
  home(user: string): string;
  readonly passwd: string;
  readonly log: LogLines;
  config(params?: Record<string, string>): ConfigView;
  tables(): TableRegistry;
  cleanup(): Promise<{ submissions: { request: CleanupRequest; content: string }[]; stop(): Promise<void> }>;
  aliases(text: string): Promise<string>;
  cleanupDone(): Promise<void>;
}

export async function fixture(users: readonly string[], parameters: readonly ParameterSpec[], owner: string): Promise<Fixture> {
  const dir = await mkdtemp(join(tmpdir(), 'postern-local-'));
  await chmod(dir, 0o777);
  const spool = join(dir, 'spool');
  const queue = join(dir, 'queue');
  await mkdir(spool, { mode: 0o777 });
  await chmod(spool, 0o777);
  await mkdir(join(queue, 'public'), { recursive: true });
  const homes = join(dir, 'home');
  await mkdir(homes, { mode: 0o777 });
  await chmod(homes, 0o777);
  const lines = ['root:x:0:0:root:/root:/bin/sh', 'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin'];
  for (const u of users) {
    await mkdir(join(homes, u), { mode: 0o777 });
    await chmod(join(homes, u), 0o777);
    lines.push(`${u}:x:${TEST_UID}:${TEST_GID}:${u}:${join(homes, u)}:/bin/sh`);
  }
  const passwd = join(dir, 'passwd');
  await writeFile(passwd, lines.join('\n') + '\n');
  const log = testLogger();
  let registry: TableRegistry | undefined;
  const tables = () => (registry ??= createTableRegistry({ unixFiles: { passwd } }));
  const fx: Fixture = {
    dir,
    spool,
    queue,
    passwd,
    log,
    home: (u) => join(homes, u),
    tables,
    config(params = {}) {
      const reg = ParameterRegistry.withCore();
      reg.declare(owner, parameters);
      const text = Object.entries({
        queue_directory: queue,
        mail_spool_directory: spool,
        myhostname: 'mail.example.com',
        mydomain: 'example.com',
        myorigin: 'example.com',
        mydestination: 'example.com, localhost',
        alias_maps: '',
        deliver_lock_attempts: '2',
        deliver_lock_delay: '0s',
        ...params,
      })
        .map(([k, v]) => `${k} = ${v}`)
        .join('\n');
      return createConfigView({ mainCf: parseMainCf(text), registry: reg, configDirectory: dir });
    },
    async aliases(text) {
      const src = join(dir, `aliases-${Math.random().toString(36).slice(2)}`);
      await writeFile(src, text);
      const entries = collectEntries(parseAliasSource(text, src), { fold: true, duplicates: 'replace', file: src });
      const table = new LmdbTable(src, `lmdb:${src}`);
      await table.rebuild([...entries].map(([k, v]) => [k.toLowerCase(), v] as const), true);
      await table.close();
      return `lmdb:${src}`;
    },
    async cleanup() {
      const submissions: { request: CleanupRequest; content: string }[] = [];
      let n = 0;
      const entry: MasterEntry = {
        name: 'cleanup', type: 'unix', private: false, unprivileged: false, chroot: false, wakeup: 0,
        wakeupIfUsed: false, maxproc: 0, command: 'cleanup', args: [], overrides: {}, flags: [], file: 'master.cf', line: 1,
      };
      const svc = await startServiceInProcess(
        async (ctx) =>
          serveCleanup(ctx, {
            async submit(request, content) {
              const chunks: Buffer[] = [];
              for await (const c of content) chunks.push(c);
              submissions.push({ request, content: Buffer.concat(chunks).toString() });
              return { status: 'queued', queueId: `FWD${++n}`, code: 250, dsn: '2.0.0', text: 'Ok' };
            },
          }),
        { entry, config: fx.config(), log: testLogger(), listen: { path: join(queue, 'public', 'cleanup') } },
      );
      return { submissions, stop: () => svc.stop() };
    },
    async cleanupDone() {
      closeClients();
      await rm(dir, { recursive: true, force: true });
    },
  };
  return fx;
}

let qid = 0;

export function request(recipients: readonly (string | { address: string; original?: string })[], sender = 'sender@remote.example', transport = 'local'): DeliveryRequest {
  return {
    queueId: `TESTQ${++qid}`,
    queueName: 'active',
    transport,
    nexthop: 'example.com',
    sender,
    recipients: recipients.map((r, index) => (typeof r === 'string' ? { index, address: r } : { index, ...r })),
    arrivalTime: Date.now(),
    size: 0,
  };
}

export function source(content: string | Buffer): MessageSource {
  const buf = Buffer.isBuffer(content) ? content : Buffer.from(content);
  return {
    queueId: 'TESTQ',
    size: buf.length,
    async *stream() {
      yield buf;
    },
    buffer: async () => buf,
  };
}

export function agentContext(config: ConfigView, log: Logger, service = 'local'): AgentContext {
  return { service, config, log, signal: new AbortController().signal, connected() {}, destinationDown() {} };
}

export interface MboxMessage {
  readonly fromLine: string;
  readonly headers: string[];
  readonly body: string;
}

/** Splits an mbox into messages: "From " at the start of a line after an empty line (or at the start). */
export function parseMbox(text: string): MboxMessage[] {
  const out: MboxMessage[] = [];
  const parts = text.split(/\n\n(?=From )/);
  for (let i = 0; i < parts.length; i++) {
    let part = parts[i]!;
    if (i < parts.length - 1) part += '\n';
    if (part.trim() === '') continue;
    const nl = part.indexOf('\n');
    const fromLine = part.slice(0, nl);
    const rest = part.slice(nl + 1);
    const sep = rest.indexOf('\n\n');
    const head = sep < 0 ? rest : rest.slice(0, sep);
    out.push({ fromLine, headers: head.split('\n'), body: sep < 0 ? '' : rest.slice(sep + 2) });
  }
  return out;
}

export const MESSAGE = [
  'From: Sender <sender@remote.example>',
  'To: alice@example.com',
  'Subject: test',
  '',
  'Hello.',
  'From the start of a line',
  '>From already quoted',
  '.dot line',
  'last line',
  '',
].join('\r\n');
