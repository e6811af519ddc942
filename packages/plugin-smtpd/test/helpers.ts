/**
 * Test rig: a real smtpd on a loopback port (startServiceInProcess), a real
 * cleanup service on a unix socket that records what it receives, an
 * in-process trivial-rewrite resolver, a captured log, and a raw SMTP client.
 */
import { connect, type Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createConfigView, IpcClient, ParameterRegistry, RemoteCleanup, SERVICE, serveCleanup, serviceContainer, startServiceInProcess, type CleanupRequest, type CleanupResult, type CleanupService, type ConfigView, type Logger, type MasterEntry, type ResolveResult, type RewriteService, type SaslServer, type TableRegistry } from '@postern/core';
import { createTableRegistry } from '@postern/tables';
import { masterEntry } from '@postern/core';
import { SMTPD_PARAMETERS } from '../src/smtpd-params.js';
import { createSmtpdMain, type SmtpdOptions } from '../src/smtpd.js';

export class CaptureLog implements Logger {
  readonly verbose = false;
  constructor(readonly lines: string[] = []) {}
  info(t: string) {
    this.lines.push(t);
  }
  warn(t: string) {
    this.lines.push(`warning: ${t}`);
  }
  error(t: string) {
    this.lines.push(`error: ${t}`);
  }
  fatal(t: string) {
    this.lines.push(`fatal: ${t}`);
  }
  panic(t: string) {
    this.lines.push(`panic: ${t}`);
  }
  debug() {}
  child(): Logger {
    return this;
  }
  /** Waits until a line matching `re` was logged. */
  async waitFor(re: RegExp): Promise<string> {
    for (;;) {
      const l = this.lines.find((x) => re.test(x));
      if (l) return l;
      await new Promise((r) => setTimeout(r, 5));
    }
  }
}

export function makeConfig(dir: string, params: Record<string, string>, overrides: Record<string, string> = {}): ConfigView {
  const registry = ParameterRegistry.withCore();
  registry.declare('@postern/plugin-smtpd', SMTPD_PARAMETERS);
  registry.declare('test', [
    { name: 'virtual_alias_maps', default: '' },
    { name: 'virtual_mailbox_maps', default: '' },
    { name: 'relay_domains', default: '' },
  ]);
  const base: Record<string, string> = {
    myhostname: 'mx.example.com',
    mydomain: 'example.com',
    queue_directory: dir,
    mynetworks: '127.0.0.1/32',
    smtpd_peername_lookup: 'no',
    local_recipient_maps: '',
    ...params,
  };
  return createConfigView({
    registry,
    configDirectory: dir,
    mainCf: Object.entries(base).map(([name, value], i) => ({ kind: 'param' as const, name, value, file: 'main.cf', line: i + 1, endLine: i + 1 })) as never,
    overrides,
  });
}

/** A cleanup service that records each submission, served over a real unix socket. */
export class RecordingCleanup implements CleanupService {
  readonly submitted: { request: CleanupRequest; content: string; queueId: string }[] = [];
  readonly started: { request: CleanupRequest; queueId: string; outcome?: 'done' | 'aborted' }[] = [];
  next = 1;
  answer: ((req: CleanupRequest) => Omit<CleanupResult, 'queueId'>) | undefined;
  async submit(request: CleanupRequest, content: AsyncIterable<Buffer>, onQueueId?: (id: string) => void): Promise<CleanupResult> {
    // like cleanup: the client's queue ID when it made one (smtpd does), else one of ours
    const queueId = request.queueId ?? `4ABC${String(this.next++).padStart(3, '0')}`;
    const rec: { request: CleanupRequest; queueId: string; outcome?: 'done' | 'aborted' } = { request, queueId };
    this.started.push(rec);
    if (queueId !== request.queueId) onQueueId?.(queueId);
    const chunks: Buffer[] = [];
    try {
      for await (const c of content) chunks.push(c);
    } catch (err) {
      rec.outcome = 'aborted';
      throw err;
    }
    rec.outcome = 'done';
    if (this.answer) return { ...this.answer(request), queueId };
    this.submitted.push({ request, content: Buffer.concat(chunks).toString('utf8'), queueId });
    return { status: 'queued', queueId, code: 250, dsn: '2.0.0', text: `Ok: queued as ${queueId}` };
  }
}

/** trivial-rewrite's resolve, for a few fixed domains. */
export class TestRewrite implements RewriteService {
  constructor(
    private readonly local = ['example.com', 'mx.example.com'],
    private readonly relay: string[] = ['relay.example'],
    private readonly virtual: string[] = ['virt.example'],
  ) {}
  async rewrite(_c: 'local' | 'remote', address: string): Promise<string> {
    return address.includes('@') ? address : `${address}@example.com`;
  }
  async resolve(address: string): Promise<ResolveResult> {
    const a = address.includes('@') ? address : `${address}@example.com`;
    const domain = a.slice(a.lastIndexOf('@') + 1).toLowerCase();
    if (this.local.includes(domain)) return { transport: 'local', nexthop: domain, recipient: a, class: 'local', flags: ['final'] };
    if (this.virtual.includes(domain)) return { transport: 'virtual', nexthop: domain, recipient: a, class: 'virtual_mailbox', flags: ['final'] };
    if (this.relay.includes(domain)) return { transport: 'relay', nexthop: domain, recipient: a, class: 'relay', flags: [] };
    return { transport: 'smtp', nexthop: domain, recipient: a, class: 'default', flags: [] };
  }
}

const entry = (name: string, overrides: Record<string, string> = {}): MasterEntry => masterEntry({ name, type: 'inet', private: false, command: 'smtpd', overrides });

export interface Rig {
  readonly port: number;
  readonly log: CaptureLog;
  readonly cleanup: RecordingCleanup;
  readonly config: ConfigView;
  readonly dir: string;
  readonly sleeps: number[];
  stop(): Promise<void>;
}

export async function startRig(
  params: Record<string, string> = {},
  opts: { overrides?: Record<string, string>; sasl?: SaslServer; tables?: TableRegistry; smtpd?: SmtpdOptions } = {},
): Promise<Rig> {
  const dir = mkdtempSync(join(tmpdir(), 'postern-smtpd-'));
  const log = new CaptureLog();
  const config = makeConfig(dir, params, opts.overrides);
  const cleanup = new RecordingCleanup();
  // The real cleanup endpoint: IPC over a unix socket, so cancellation is real.
  const cleanupSvc = await startServiceInProcess(async (ctx) => serveCleanup(ctx, cleanup), {
    entry: { ...entry('cleanup'), type: 'unix' },
    config,
    log,
    listen: { path: join(dir, 'cleanup.sock') },
  });
  const ipc = new IpcClient('cleanup', join(dir, 'cleanup.sock'));
  const sleeps: number[] = [];
  const services = serviceContainer(config, log, { [SERVICE.CLEANUP]: new RemoteCleanup(ipc), [SERVICE.REWRITE]: new TestRewrite() });
  const smtpd = await startServiceInProcess(
    createSmtpdMain({
      tables: opts.tables ?? createTableRegistry(),
      sasl: opts.sasl,
      sleep: async (ms) => void sleeps.push(ms),
      ...opts.smtpd,
    }),
    { entry: entry('smtp', opts.overrides), config, log, container: services.container, listen: { port: 0, host: '127.0.0.1' } },
  );
  return {
    port: smtpd.port,
    log,
    cleanup,
    config,
    dir,
    sleeps,
    async stop() {
      await smtpd.stop();
      await services.close();
      ipc.close();
      await cleanupSvc.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A raw SMTP client: send lines, read whole (multi-line) replies. */
export class RawClient {
  private buf = '';
  private waiters: (() => void)[] = [];
  closed = false;
  readonly transcript: string[] = [];
  constructor(readonly socket: Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      this.buf += d;
      this.waiters.splice(0).forEach((w) => w());
    });
    socket.on('close', () => {
      this.closed = true;
      this.waiters.splice(0).forEach((w) => w());
    });
    socket.on('error', () => undefined);
  }
  static open(port: number, localAddress = '127.0.0.1'): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = connect({ port, host: '127.0.0.1', localAddress });
      s.once('connect', () => resolve(new RawClient(s)));
      s.once('error', reject);
    });
  }
  /** Next complete reply ("250-a\r\n250 b" joined with \n), or undefined at EOF. */
  async reply(): Promise<string | undefined> {
    for (;;) {
      const m = /^((?:\d{3}-[^\r\n]*\r\n)*\d{3}(?: [^\r\n]*)?\r\n)/.exec(this.buf);
      if (m) {
        this.buf = this.buf.slice(m[1]!.length);
        const r = m[1]!.trimEnd().split('\r\n').join('\n');
        this.transcript.push(`S: ${r}`);
        return r;
      }
      if (this.closed) return undefined;
      await new Promise<void>((r) => this.waiters.push(r));
    }
  }
  send(text: string): void {
    this.transcript.push(`C: ${text.trimEnd()}`);
    this.socket.write(text);
  }
  async cmd(line: string): Promise<string | undefined> {
    this.send(`${line}\r\n`);
    return this.reply();
  }
  async waitClose(): Promise<void> {
    while (!this.closed) await new Promise<void>((r) => this.waiters.push(r));
  }
  end(): void {
    this.socket.destroy();
  }
}
