/**
 * What every Postern process builds first: the parameter registry (core's and
 * every installed plugin's parameters), its view of main.cf with its master.cf
 * overrides, its Postfix-shaped logger, and its dependency container with
 * core's contracts (tables, the queue store, the clients of the internal
 * services).
 */
import 'reflect-metadata';
import { container as rootContainer, type DependencyContainer } from 'tsyringe';
import type { ConfigView } from '../contracts/config.js';
import type { Logger } from '../contracts/logger.js';
import { SERVICE_PROCESS_LIMITS, type MasterEntry } from '../contracts/service.js';
import { effectiveProcessLimit } from '../config/index.js';
import { provide, provideLazy } from '../contracts/token.js';
import { CONFIG } from '../contracts/config.js';
import { LOGGER } from '../contracts/logger.js';
import { TABLES } from '../contracts/table.js';
import { QUEUE_STORE, type QueueStore } from '../contracts/queue.js';
import { PostfixLogger } from '../log/logger.js';
import { SERVICE_CLIENTS, ServiceClients } from '../service/clients.js';
import { bindContracts, CONTRACT_BINDINGS } from '../service/bindings.js';
import { newTableRegistry } from '../tables/index.js';
import { discoverPlugins, type InstalledPlugin, type PluginSet } from '../plugin/loader.js';
import { backendRegistry, openConfiguredQueueStore, registerPluginTables } from '../plugin/backends.js';
import { BACKENDS } from '../contracts/backend.js';
import { loadConfiguration, type Configuration } from './master-config.js';
import type { ChildSpec } from './master-proto.js';

export interface ProcessRuntime {
  readonly configuration: Configuration;
  readonly config: ConfigView;
  readonly log: Logger;
  readonly container: DependencyContainer;
  readonly plugins: PluginSet;
  close(): Promise<void>;
}

/** The logger of a process: program = syslog_name/command, as Postfix's msg_syslog_init. */
export function processLogger(config: ConfigView, command: string, options: { file?: string; verbose?: boolean; stderr?: boolean } = {}): Logger {
  return new PostfixLogger({
    program: `${config.get('syslog_name')}/${command}`,
    file: options.file ?? config.get('maillog_file'),
    host: config.get('myhostname').split('.')[0],
    verbose: options.verbose,
    stderr: options.stderr,
  });
}

/**
 * A process's container (a child container, never the global one): core's
 * contracts, the process's service connections, and a binding for each of
 * `uses` (the contracts its plugin calls, bound to their clients, or to
 * `local[name]` when the providing service runs in this process). close()
 * closes the queue store and every connection.
 */
export function processContainer(
  config: ConfigView,
  log: Logger,
  plugins: readonly InstalledPlugin[] = [],
  uses: Iterable<string> = [],
  local: Readonly<Record<string, unknown>> = {},
): { container: DependencyContainer; close(): Promise<void> } {
  const container = rootContainer.createChildContainer();
  let store: QueueStore | undefined;
  const clients = new ServiceClients(config);
  const backends = backendRegistry(plugins);
  provide(container, CONFIG, config);
  provide(container, LOGGER, log);
  provide(container, BACKENDS, backends);
  provideLazy(container, TABLES, () => registerPluginTables(newTableRegistry({ log }), plugins));
  provideLazy(container, QUEUE_STORE, () => (store = openConfiguredQueueStore(backends, config, log)));
  provide(container, SERVICE_CLIENTS, clients);
  bindContracts(container, uses, local);
  return {
    container,
    close: async () => {
      clients.close();
      await store?.close();
    },
  };
}

/**
 * The container of a service a test or an embedder runs: the contracts in
 * `local` (by name, SERVICE.*) bound to those objects, every other contract
 * core knows to its client. Pass it as HostOptions.container.
 */
export function serviceContainer(
  config: ConfigView,
  log: Logger,
  local: Readonly<Record<string, unknown>> = {},
  plugins: readonly InstalledPlugin[] = [],
): { container: DependencyContainer; close(): Promise<void> } {
  return processContainer(config, log, plugins, Object.keys(CONTRACT_BINDINGS), local);
}

/** Everything a service process needs, from the spec master gave it. */
export async function loadServiceRuntime(spec: ChildSpec): Promise<ProcessRuntime> {
  const plugins = await discoverPlugins(spec.searchDirs);
  const configuration = await loadConfiguration(spec.configDirectory, plugins);
  const config = configuration.view(spec.entry as MasterEntry);
  const log = processLogger(config, spec.entry.command, { file: spec.logFile, verbose: spec.verbose || spec.entry.flags.includes('-v') });
  const def = plugins.plugins.find((p) => p.name === spec.pluginName)?.definition;
  const uses = [...(def?.uses ?? []), ...(def?.mayUse ?? [])];
  const { container, close } = processContainer(config, log, plugins.plugins, uses);
  const limits: Record<string, number> = {};
  for (const e of configuration.entries) limits[e.name] = effectiveProcessLimit(e, config);
  provide(container, SERVICE_PROCESS_LIMITS, limits);
  return { configuration, config, log, container, plugins, close };
}
