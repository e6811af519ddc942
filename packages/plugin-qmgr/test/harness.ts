/**
 * A small mail system in one process for qmgr's tests: a real LMDB queue
 * store in a temp dir, a trivial-rewrite stand-in serving RewriteService on
 * private/rewrite (a resolve table), a bounce stand-in on private/bounce that
 * records appends and notices (and writes the logs to the store, as bounce(8)
 * does), delivery agents built with core's skeleton on private/<transport>,
 * and qmgr itself on public/qmgr.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createConfigView, createServiceHost, deliveryAgent, MAIL_CLASS, ParameterRegistry, parseMainCf, provide, QUEUE, QUEUE_STORE, SERVICE, serveBounce, serveRewrite, startServiceInProcess, type ConfigView, type DeliveryLogName, type DeliveryLogRecord, type DeliveryRequest, type Envelope, type InProcessService, type Logger, type MailClass, type MasterEntry, type NoticeKind, type QueuedMessage, type QueueName, type QueueStore, type RecipientResult, type ResolveResult, type ServiceContext, type ServiceMain, type ServiceClients, serviceClients } from '@postern/core';
import { openQueueStore } from '@postern/queue-lmdb';
import { PARAMETERS } from '../src/qmgr-params.js';
import { createQmgr, type QmgrInstance } from '../src/qmgr.js';

/** The service connections this test opens (each closed by closeClients()). */
const openClients: ServiceClients[] = [];
const closeClients = (): void => openClients.splice(0).forEach((c) => c.close());

export class TestLog implements Logger {
  readonly lines: string[] = [];
  readonly verbose = false;
  constructor(private readonly program = 'postern/test') {}
  private add(prefix: string, text: string) {
    this.lines.push(prefix + text);
    if (process.env.QMGR_TEST_LOG) process.stderr.write(`${this.program}: ${prefix}${text}\n`);
  }
  info(text: string) {
    this.add('', text);
  }
  warn(text: string) {
    this.add('warning: ', text);
  }
  error(text: string) {
    this.add('error: ', text);
  }
  fatal(text: string) {
    this.add('fatal: ', text);
  }
  panic(text: string) {
    this.add('panic: ', text);
  }
  debug() {}
  child(program: string): Logger {
    return new TestLog(program);
  }
  grep(re: RegExp): string[] {
    return this.lines.filter((l) => re.test(l));
  }
}

export function masterEntry(name: string, command = name, type: 'unix' = 'unix'): MasterEntry {
  return {
    name,
    type,
    private: true,
    unprivileged: true,
    chroot: false,
    wakeup: 0,
    wakeupIfUsed: false,
    maxproc: 0,
    command,
    args: [],
    overrides: {},
    flags: [],
    file: 'master.cf',
    line: 1,
  };
}

/** The test resolve table: the domain decides. */
export function resolveTable(address: string): ResolveResult {
  const domain = address.slice(address.lastIndexOf('@') + 1).toLowerCase();
  const ok = (transport: string, nexthop: string): ResolveResult => ({
    transport,
    nexthop,
    recipient: address,
    class: 'default',
    flags: [],
  });
  switch (domain) {
    case 'bad.example':
      return { ...ok(SERVICE.SMTP, domain), flags: ['error'] };
    case 'fail.example':
      return { ...ok(SERVICE.SMTP, domain), flags: ['fail'] };
    case 'nowhere.example':
      return ok('nosuch', domain);
    case 'gone.example':
      return ok(SERVICE.ERROR, '5.1.1 user unknown');
    case 'localhost':
      return { ...ok(SERVICE.LOCAL, domain), class: 'local', flags: ['final'] };
    default:
      return ok(SERVICE.SMTP, domain);
  }
}

export interface AgentRecord {
  readonly requests: DeliveryRequest[];
  /** Deliveries in progress now, per nexthop and in all. */
  readonly current: Map<string, number>;
  readonly max: Map<string, number>;
  busy: number;
  maxBusy: number;
  deferredOnce: Set<string>;
  delayMs: number;
}

function newRecord(): AgentRecord {
  return { requests: [], current: new Map(), max: new Map(), busy: 0, maxBusy: 0, deferredOnce: new Set(), delayMs: 0 };
}

/**
 * The test agent's answers, by local part: defer-once-* is deferred on its
 * first delivery, defer-* always, bounce-* bounced, anything else sent.
 * Nexthop down.example fails as a site (destinationDown).
 */
function testDeliver(rec: AgentRecord) {
  return async (req: DeliveryRequest, msg: { buffer(): Promise<Buffer> }, agent: { destinationDown(): void }) => {
    rec.requests.push(req);
    const cur = (rec.current.get(req.nexthop) ?? 0) + 1;
    rec.current.set(req.nexthop, cur);
    rec.max.set(req.nexthop, Math.max(rec.max.get(req.nexthop) ?? 0, cur));
    rec.busy++;
    rec.maxBusy = Math.max(rec.maxBusy, rec.busy);
    try {
      if (rec.delayMs) await new Promise((r) => setTimeout(r, rec.delayMs));
      const content = await msg.buffer();
      if (content.length !== req.size) throw new Error(`content is ${content.length} bytes, queued ${req.size}`);
      if (req.nexthop === 'down.example') {
        agent.destinationDown();
        return req.recipients.map(
          (r): RecipientResult => ({
            index: r.index,
            status: 'deferred',
            dsn: '4.4.1',
            reason: 'connect to down.example[192.0.2.1]:25: Connection refused',
            relay: 'none',
          }),
        );
      }
      return req.recipients.map((r): RecipientResult => {
        const local = r.address.slice(0, r.address.lastIndexOf('@'));
        if (local.startsWith('defer-once') && !rec.deferredOnce.has(r.address)) {
          rec.deferredOnce.add(r.address);
          return { index: r.index, status: 'deferred', dsn: '4.2.1', reason: 'mailbox busy', relay: `${req.nexthop}[192.0.2.9]:25` };
        }
        if (local.startsWith('defer-once')) return { index: r.index, status: 'sent', dsn: '2.0.0', reason: '250 2.0.0 Ok', relay: `${req.nexthop}[192.0.2.9]:25` };
        if (local.startsWith('defer')) return { index: r.index, status: 'deferred', dsn: '4.2.1', reason: 'mailbox busy', relay: `${req.nexthop}[192.0.2.9]:25` };
        if (local.startsWith('bounce')) return { index: r.index, status: 'bounced', dsn: '5.1.1', reason: 'user unknown', relay: `${req.nexthop}[192.0.2.9]:25` };
        return { index: r.index, status: 'sent', dsn: '2.0.0', reason: '250 2.0.0 Ok', relay: `${req.nexthop}[192.0.2.9]:25` };
      });
    } finally {
      rec.current.set(req.nexthop, rec.current.get(req.nexthop)! - 1);
      rec.busy--;
    }
  };
}

/** error(8) as the test needs it: bounce with the nexthop's "X.Y.Z text". */
function errorDeliver(retry: boolean, rec: AgentRecord) {
  return async (req: DeliveryRequest) => {
    rec.requests.push(req);
    const m = /^(\d\.\d{1,3}\.\d{1,3})\s+(.*)$/.exec(req.nexthop);
    return req.recipients.map(
      (r): RecipientResult => ({
        index: r.index,
        status: retry ? 'deferred' : 'bounced',
        dsn: m ? m[1]! : retry ? '4.0.0' : '5.0.0',
        reason: m ? m[2]! : req.nexthop,
      }),
    );
  };
}

export interface Notice {
  readonly kind: NoticeKind;
  readonly queueId: string;
}

export interface HarnessOptions {
  /** Extra main.cf lines. */
  readonly mainCf?: string;
  readonly processLimits?: Record<string, number>;
  /** Do not start qmgr (start it later with startQmgr). */
  readonly noQmgr?: boolean;
}

export class Harness {
  readonly dir: string;
  readonly queueDir: string;
  readonly log = new TestLog('postern/qmgr');
  readonly agentLog = new TestLog('postern/smtp');
  readonly config: ConfigView;
  readonly store: QueueStore;
  readonly agents: Record<string, AgentRecord> = {};
  readonly appends: { log: DeliveryLogName; queueId: string; record: DeliveryLogRecord }[] = [];
  readonly notices: Notice[] = [];
  resolves = 0;
  qmgr: QmgrInstance | undefined;
  private qmgrService: InProcessService | undefined;
  private readonly services: InProcessService[] = [];
  private readonly parent: ServiceContext['container'];

  constructor(private readonly options: HarnessOptions = {}) {
    this.dir = mkdtempSync(join(tmpdir(), 'postern-qmgr-'));
    this.queueDir = join(this.dir, 'q');
    mkdirSync(join(this.queueDir, MAIL_CLASS.PUBLIC), { recursive: true });
    mkdirSync(join(this.queueDir, MAIL_CLASS.PRIVATE), { recursive: true });
    const registry = ParameterRegistry.withCore();
    registry.declare('@postern/plugin-qmgr', PARAMETERS);
    registry.addServices(
      [SERVICE.SMTP, SERVICE.LOCAL, SERVICE.ERROR, SERVICE.RETRY, 'nosuch'].map((name) => ({ name, command: name })),
    );
    this.config = createConfigView({
      registry,
      configDirectory: this.dir,
      mainCf: parseMainCf(`queue_directory = ${this.queueDir}\n${options.mainCf ?? ''}\n`),
    });
    this.store = openQueueStore({ queueDirectory: this.queueDir, log: this.log });
    const host = createServiceHost({ entry: masterEntry('test'), config: this.config, log: this.log });
    provide(host.ctx.container, QUEUE_STORE, this.store);
    openClients.push(serviceClients(host.ctx.container));
    this.parent = host.ctx.container;
  }

  private async serve(name: string, main: ServiceMain, log: Logger = this.log, cls: MailClass = MAIL_CLASS.PRIVATE): Promise<InProcessService> {
    const svc = await startServiceInProcess(main, {
      entry: masterEntry(name),
      config: this.config,
      log,
      container: this.parent,
      listen: { path: join(this.queueDir, cls, name) },
    });
    return svc;
  }

  async start(): Promise<this> {
    this.services.push(
      await this.serve(SERVICE.REWRITE, async (ctx) =>
        serveRewrite(ctx, {
          rewrite: async (_context, address) => address,
          resolve: async (address) => {
            this.resolves++;
            return resolveTable(address);
          },
        }),
      ),
    );
    this.services.push(
      await this.serve(SERVICE.BOUNCE, async (ctx) =>
        serveBounce(ctx, {
          append: async (log, queueId, record) => {
            this.appends.push({ log, queueId, record });
            await this.store.appendLog(log, queueId, record);
          },
          notify: async (kind, queueId) => {
            this.notices.push({ kind, queueId });
            return { count: 1 };
          },
        }),
      ),
    );
    for (const name of [SERVICE.SMTP, SERVICE.LOCAL]) {
      const rec = (this.agents[name] = newRecord());
      this.services.push(await this.serve(name, async (ctx) => deliveryAgent(ctx, testDeliver(rec)), this.agentLog));
    }
    for (const name of [SERVICE.ERROR, SERVICE.RETRY]) {
      const rec = (this.agents[name] = newRecord());
      this.services.push(
        await this.serve(name, async (ctx) => deliveryAgent(ctx, errorDeliver(name === SERVICE.RETRY, rec), { relay: 'none' }), this.agentLog),
      );
    }
    if (!this.options.noQmgr) await this.startQmgr();
    return this;
  }

  async startQmgr(): Promise<QmgrInstance> {
    const processLimits = this.options.processLimits;
    this.qmgrService = await this.serve(
      SERVICE.QMGR,
      (ctx) => createQmgr(ctx, processLimits ? { processLimits } : {}),
      this.log,
      MAIL_CLASS.PUBLIC,
    );
    this.qmgr = this.qmgrService.instance as QmgrInstance;
    return this.qmgr;
  }

  async stopQmgr(): Promise<void> {
    await this.qmgr?.stop(true);
    await this.qmgrService?.stop();
    this.qmgr = undefined;
    this.qmgrService = undefined;
  }

  get qmgrSocket(): string {
    return join(this.queueDir, MAIL_CLASS.PUBLIC, SERVICE.QMGR);
  }

  /** Queues a message (default: incoming). */
  async submit(env: Partial<Envelope> & { recipients: Envelope['recipients'] }, queue?: QueueName): Promise<QueuedMessage> {
    const w = this.store.createWriter();
    w.write(Buffer.from('Subject: test\r\nFrom: sender@example.com\r\n\r\nHello.\r\n'));
    return w.commit({ sender: 'sender@example.com', arrivalTime: Date.now(), ...env }, queue);
  }

  async count(queue: QueueName): Promise<number> {
    return this.store.count(queue);
  }

  /** Waits until incoming and active are empty and qmgr holds nothing. */
  async drained(what = 'queue drained'): Promise<void> {
    await until(
      async () =>
        (await this.count(QUEUE.INCOMING)) === 0 &&
        (await this.count(QUEUE.ACTIVE)) === 0 &&
        (this.qmgr?.stats().messages ?? 0) === 0,
      what,
    );
  }

  async close(): Promise<void> {
    await this.qmgr?.stop(true);
    closeClients();
    await this.stopQmgr();
    for (const s of this.services) await s.stop();
    await this.store.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Polls `cond` until true; fails after `timeoutMs` (a guard against hangs, not a timing assertion). */
export async function until(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
