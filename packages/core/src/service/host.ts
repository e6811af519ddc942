/**
 * The service host: builds a ServiceContext for a service's main() and feeds
 * it connections and triggers. master's per-service processes use it with the
 * sockets master passes them; tests and embedders use {@link startServiceInProcess}
 * with a listener of their own.
 */
import 'reflect-metadata';
import { createServer, type Server, type Socket } from 'node:net';
import { container as rootContainer, type DependencyContainer } from 'tsyringe';
import type { ConfigView } from '../contracts/config.js';
import type { Logger } from '../contracts/logger.js';
import type { MasterEntry, ServiceContext, ServiceInstance, ServiceMain } from '../contracts/service.js';
import { CONFIG } from '../contracts/config.js';
import { LOGGER } from '../contracts/logger.js';
import { SERVICE_CONTEXT } from '../contracts/service.js';
import { provide } from '../contracts/token.js';
import { SERVICE_CLIENTS, ServiceClients } from './clients.js';
import { bindContracts, CONTRACT_BINDINGS } from './bindings.js';

export interface ServiceHost {
  readonly ctx: ServiceContext;
  /** Hands an accepted connection to the service. */
  connection(socket: Socket): void;
  /** Hands a wakeup or fifo trigger to the service. */
  trigger(data: Buffer): void;
  /** Connections the service holds open now. */
  readonly clients: number;
  /** Connections handed over so far (for max_use). */
  readonly served: number;
  /** Fires ctx.signal (stop, reload, max_use, max_idle). */
  finish(reason: string): void;
  /** Called when the connection count changes. */
  onLoad(listener: (clients: number) => void): void;
  /** Closes the connections the host's container opened (when it has its own, see HostOptions.container). */
  close(): void;
}

export interface HostOptions {
  readonly entry: MasterEntry;
  readonly config: ConfigView;
  readonly log: Logger;
  /** Parent for the service's child container (default: a fresh child of tsyringe's root, never the root itself). */
  readonly container?: DependencyContainer;
  /**
   * Contracts the service calls (its manifest's uses): each is bound in the
   * service's container to `local[name]` when given, else to its client.
   * Default: none when `container` is a process container (the runtime bound
   * them), else every contract core knows.
   */
  readonly uses?: readonly string[];
  /** Local implementations of contracts served in this process (see startServicesInProcess). */
  readonly local?: Readonly<Record<string, unknown>>;
}

export function createServiceHost(options: HostOptions): ServiceHost {
  const container = (options.container ?? rootContainer).createChildContainer();
  // the connections belong to the nearest container that has them; a host without one owns its own
  const own = container.isRegistered(SERVICE_CLIENTS, true) ? undefined : new ServiceClients(options.config);
  if (own) provide(container, SERVICE_CLIENTS, own);
  // a service run on its own (tests, embedders) without a list reaches every contract's client
  bindContracts(container, options.uses ?? (own ? Object.keys(CONTRACT_BINDINGS) : []), options.local);
  const abort = new AbortController();
  let onConn: ((s: Socket) => void) | undefined;
  let onTrig: ((d: Buffer) => void) | undefined;
  const earlyConns: Socket[] = [];
  const earlyTrigs: Buffer[] = [];
  const loadListeners: ((n: number) => void)[] = [];
  let clients = 0;
  let served = 0;
  const changed = () => loadListeners.forEach((l) => l(clients));

  const ctx: ServiceContext = {
    entry: options.entry,
    config: options.config,
    log: options.log,
    container,
    signal: abort.signal,
    onConnection(handler) {
      onConn = handler;
      for (const s of earlyConns.splice(0)) handler(s);
    },
    onTrigger(handler) {
      onTrig = handler;
      for (const d of earlyTrigs.splice(0)) handler(d);
    },
  };
  provide(container, CONFIG, options.config);
  provide(container, LOGGER, options.log);
  provide(container, SERVICE_CONTEXT, ctx);

  return {
    ctx,
    get clients() {
      return clients;
    },
    get served() {
      return served;
    },
    connection(socket) {
      clients++;
      served++;
      socket.once('close', () => {
        clients--;
        changed();
      });
      changed();
      if (onConn) onConn(socket);
      else earlyConns.push(socket);
    },
    trigger(data) {
      if (onTrig) onTrig(data);
      else earlyTrigs.push(data);
    },
    finish(reason) {
      if (!abort.signal.aborted) abort.abort(new Error(reason));
    },
    onLoad(listener) {
      loadListeners.push(listener);
    },
    close() {
      own?.close();
    },
  };
}

export interface InProcessService {
  readonly host: ServiceHost;
  readonly server: Server;
  /** TCP port when listening on inet. */
  readonly port: number;
  readonly instance: ServiceInstance | void;
  stop(): Promise<void>;
}

/**
 * Runs a service's main() in this process on a listener of its own: a TCP
 * port on 127.0.0.1 (port 0 = ephemeral) or a unix socket path.
 */
export async function startServiceInProcess(
  main: ServiceMain,
  options: HostOptions & { readonly listen: { port?: number; host?: string; path?: string } },
): Promise<InProcessService> {
  const host = createServiceHost(options);
  const server = createServer({ pauseOnConnect: false }, (s) => host.connection(s));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    if (options.listen.path) server.listen(options.listen.path, resolve);
    else server.listen(options.listen.port ?? 0, options.listen.host ?? '127.0.0.1', resolve);
  });
  let instance: ServiceInstance | void;
  try {
    instance = await main(host.ctx);
  } catch (err) {
    // a service that fails to start leaves nothing listening behind
    host.finish('start failed');
    server.close();
    host.close();
    throw err;
  }
  const addr = server.address();
  return {
    host,
    server,
    instance,
    port: typeof addr === 'object' && addr ? addr.port : 0,
    async stop() {
      host.finish('stop');
      await new Promise<void>((resolve) => server.close(() => resolve()));
      if (instance) await instance.stop(false);
      host.close();
    },
  };
}

export interface CoHostedService {
  readonly main: ServiceMain;
  readonly entry: MasterEntry;
  /** The contracts it calls (its manifest's uses). */
  readonly uses?: readonly string[];
  readonly listen?: { port?: number; host?: string; path?: string };
}

/**
 * Hosts several services in this one process, in order: each contract an
 * earlier service serves (its instance's `provides`) is bound, in a later
 * service's container, to that local object rather than to its client, so a
 * call between them is a method call that crosses no socket. A contract no
 * earlier service serves is bound to its client, as in a service process.
 */
export async function startServicesInProcess(
  services: readonly CoHostedService[],
  options: Omit<HostOptions, 'entry' | 'uses' | 'local'>,
): Promise<InProcessService[] & { stop(): Promise<void> }> {
  const started: InProcessService[] = [];
  const local: Record<string, unknown> = {};
  const stop = async () => {
    for (const s of started.splice(0).reverse()) await s.stop();
  };
  try {
    for (const s of services) {
      const svc = await startServiceInProcess(s.main, { ...options, entry: s.entry, uses: s.uses, local: { ...local }, listen: s.listen ?? {} });
      started.push(svc);
      Object.assign(local, svc.instance?.provides ?? {});
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return Object.assign([...started], { stop });
}
