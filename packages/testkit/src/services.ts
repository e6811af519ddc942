/**
 * Services in a test's own process, the way the runtime builds them: a temp
 * directory, a real (LMDB) queue in it, the service connections a test opens,
 * and a service started with its contracts bound in-process or to clients.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  masterEntry,
  provide,
  QUEUE_STORE,
  serviceContainer,
  ServiceClients,
  startServiceInProcess,
  type ConfigView,
  type InProcessService,
  type Logger,
  type MasterEntry,
  type QueueStore,
  type ServiceMain,
} from '@postern/core';
import { openQueueStore, type LmdbQueueStore } from '@postern/queue-lmdb';

export { MemoryLogger } from '@postern/core';

/** A fresh directory under the system's temp directory; remove() deletes it. */
export function tempDir(tag: string): { readonly path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), `postern-${tag}-`));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** A real queue (the embedded LMDB store) in `queueDirectory`, with its public/ and private/ socket directories. */
export function tempQueue(queueDirectory: string): LmdbQueueStore {
  for (const d of ['public', 'private']) mkdirSync(join(queueDirectory, d), { recursive: true });
  return openQueueStore({ queueDirectory });
}

/** The service connections a test opens itself (clients of services it started); close() ends them all. */
export class TestClients {
  private readonly open: ServiceClients[] = [];

  /** Connections over `config`'s queue_directory. */
  of(config: ConfigView): ServiceClients {
    const c = new ServiceClients(config);
    this.open.push(c);
    return c;
  }

  close(): void {
    for (const c of this.open.splice(0)) c.close();
  }
}

export interface TestServiceOptions {
  readonly config: ConfigView;
  readonly log: Logger;
  /** The master.cf entry, or its name (command = name, a private unix service). */
  readonly entry: MasterEntry | string;
  /** A TCP port (0: ephemeral) or a unix socket path. */
  readonly listen: { port?: number; host?: string; path?: string };
  /** Contracts bound to these objects in the service's container (SERVICE.* name -> object); the others to their clients. */
  readonly local?: Readonly<Record<string, unknown>>;
  /** The queue store the service's container holds (QUEUE_STORE). */
  readonly store?: QueueStore;
}

/** A service run in this process with its own container; stop() stops it and closes the container's connections. */
export async function startTestService(main: ServiceMain, options: TestServiceOptions): Promise<InProcessService> {
  const entry = typeof options.entry === 'string' ? masterEntry({ name: options.entry, command: options.entry }) : options.entry;
  const services = serviceContainer(options.config, options.log, options.local);
  if (options.store) provide(services.container, QUEUE_STORE, options.store);
  let svc: InProcessService;
  try {
    svc = await startServiceInProcess(main, { entry, config: options.config, log: options.log, container: services.container, listen: options.listen });
  } catch (err) {
    await services.close();
    throw err;
  }
  return {
    ...svc,
    async stop() {
      await svc.stop();
      await services.close();
    },
  };
}
