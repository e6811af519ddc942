/**
 * Test fixtures: a configuration view over core's parameter registry, a
 * Postfix logger that keeps its lines, core's LMDB queue store, a cleanup service
 * that records what it is given (served on a real unix socket at
 * queue_directory/public/cleanup), and the bounce service itself served on
 * queue_directory/private/bounce and called through core's bounceClient.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ParameterRegistry, PostfixLogger, QUEUE, QUEUE_STORE, SERVICE, bounceClient, createConfigView, parseMainCf, provide, serveCleanup, startServiceInProcess, type BounceService, type CleanupRequest, type CleanupResult, type CleanupService, type ConfigView, type Envelope, type InProcessService, type MasterEntry, type QueueName, type QueueStore, type QueuedMessage, ServiceClients } from '@postern/core';
import { openQueueStore } from '@postern/queue-lmdb';
import { masterEntry } from '@postern/core';
import { BOUNCE_PARAMETERS } from '../src/bounce-params.js';
import { main } from '../src/bounce.js';

/** The service connections this test opens (each closed by closeClients()). */
const openClients: ServiceClients[] = [];
const clientsOf = (config: ConfigView): ServiceClients => {
  const c = new ServiceClients(config);
  openClients.push(c);
  return c;
};
const closeClients = (): void => openClients.splice(0).forEach((c) => c.close());

export function makeConfig(queueDirectory: string, settings: Record<string, string> = {}): ConfigView {
  const registry = ParameterRegistry.withCore();
  registry.declare('@postern/plugin-bounce', BOUNCE_PARAMETERS);
  const text = Object.entries({ queue_directory: queueDirectory, myhostname: 'mx.example.com', ...settings })
    .map(([k, v]) => `${k} = ${v}`)
    .join('\n');
  return createConfigView({ mainCf: parseMainCf(text), registry, configDirectory: queueDirectory });
}

export class TestLogger extends PostfixLogger {
  readonly lines: string[];
  constructor(program = 'postern/bounce') {
    const lines: string[] = [];
    super({ program, host: 'mx', sink: { write: (l) => void lines.push(l.replace(/\n$/, '')), flush: async () => {} } });
    this.lines = lines;
  }
  /** The text after "program[pid]: " of each line. */
  texts(): string[] {
    return this.lines.map((l) => l.replace(/^.*?\]: /, ''));
  }
}

/** Queues a message directly, as cleanup would. */
export async function addMessage(
  store: QueueStore,
  envelope: Envelope,
  content: string | Buffer,
  queue: QueueName = QUEUE.DEFERRED,
): Promise<QueuedMessage> {
  const w = store.createWriter();
  w.write(Buffer.isBuffer(content) ? content : Buffer.from(content));
  return w.commit(envelope, queue);
}

export interface Submitted {
  readonly request: CleanupRequest;
  readonly content: string;
  readonly queueId: string;
}

/** A cleanup service that records each submission and queues nothing. */
export class RecordingCleanup implements CleanupService {
  readonly submitted: Submitted[] = [];
  /** Set to make the next submissions fail the way cleanup reports it. */
  reply: Pick<CleanupResult, 'status' | 'code' | 'dsn' | 'text'> = { status: 'queued', code: 250, dsn: '2.0.0', text: 'Ok' };
  private n = 0;
  async submit(request: CleanupRequest, content: AsyncIterable<Buffer>, onQueueId?: (id: string) => void): Promise<CleanupResult> {
    const chunks: Buffer[] = [];
    for await (const c of content) chunks.push(c);
    const queueId = `N${(++this.n).toString().padStart(5, '0')}`;
    onQueueId?.(queueId);
    const result = { ...this.reply, queueId };
    if (result.status === 'queued') this.submitted.push({ request, content: Buffer.concat(chunks).toString('utf8'), queueId });
    return result;
  }
}

const entry = (name: string, command: string): MasterEntry => masterEntry({ name, private: name !== SERVICE.CLEANUP, command });

export interface Harness {
  readonly dir: string;
  readonly config: ConfigView;
  readonly log: TestLogger;
  readonly queue: QueueStore;
  /** Queues a message (see addMessage). */
  add(envelope: Envelope, content: string | Buffer, queue?: QueueName): Promise<QueuedMessage>;
  readonly cleanup: RecordingCleanup;
  /** The bounce service as its clients see it (over its unix socket). */
  readonly bounce: BounceService;
  close(): Promise<void>;
}

/** Starts cleanup and bounce on unix sockets in a fresh queue_directory. */
export async function startHarness(settings: Record<string, string> = {}): Promise<Harness> {
  const dir = await mkdtemp(join(tmpdir(), 'postern-bounce-'));
  await mkdir(join(dir, 'public'));
  await mkdir(join(dir, 'private'));
  const config = makeConfig(dir, settings);
  const log = new TestLogger();
  const queue = openQueueStore({ queueDirectory: dir });
  const cleanup = new RecordingCleanup();
  const services: InProcessService[] = [];
  services.push(
    await startServiceInProcess(async (ctx) => serveCleanup(ctx, cleanup), {
      entry: entry(SERVICE.CLEANUP, 'cleanup'),
      config,
      log: new TestLogger('postern/cleanup'),
      listen: { path: join(dir, 'public', SERVICE.CLEANUP) },
    }),
  );
  services.push(
    await startServiceInProcess(
      async (ctx) => {
        provide(ctx.container, QUEUE_STORE, queue);
        return main(ctx);
      },
      { entry: entry(SERVICE.BOUNCE, 'bounce'), config, log, listen: { path: join(dir, 'private', SERVICE.BOUNCE) } },
    ),
  );
  return {
    dir,
    config,
    log,
    queue,
    cleanup,
    add: (envelope, content, q) => addMessage(queue, envelope, content, q),
    bounce: bounceClient(clientsOf(config)),
    async close() {
      closeClients();
      for (const s of services.reverse()) await s.stop();
      await queue.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
