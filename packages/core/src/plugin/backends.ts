/**
 * The backends and table types installed packages declare (PluginDefinition
 * .backends and .tables), and the queue store main.cf chooses with
 * queue_backend.
 */
import { BUILTIN_BACKEND, backendParameter, type BackendContract, type BackendFactory, type BackendRegistry } from '../contracts/backend.js';
import type { ConfigView } from '../contracts/config.js';
import type { Logger } from '../contracts/logger.js';
import type { QueueStore } from '../contracts/queue.js';
import type { TableRegistry } from '../contracts/table.js';
import { posternError } from '../errors.js';
import { openQueueStore } from '../queue/index.js';
import type { InstalledPlugin } from './loader.js';

export function backendRegistry(plugins: readonly InstalledPlugin[]): BackendRegistry {
  const found = new Map<string, Map<string, BackendFactory>>();
  for (const p of plugins) {
    for (const [contract, byName] of Object.entries(p.definition.backends ?? {})) {
      const m = found.get(contract) ?? new Map<string, BackendFactory>();
      for (const [name, factory] of Object.entries(byName)) if (!m.has(name)) m.set(name, factory);
      found.set(contract, m);
    }
  }
  return {
    names: (contract) => [BUILTIN_BACKEND[contract], ...(found.get(contract)?.keys() ?? [])],
    factory: <T>(contract: BackendContract, name: string) => found.get(contract)?.get(name) as BackendFactory<T> | undefined,
  };
}

/**
 * The implementation main.cf's <contract>_backend names, made for this
 * process; undefined for the built-in backend. A name no installed package
 * provides is an error naming the parameter and the installed choices.
 */
export function openBackend<T>(registry: BackendRegistry, contract: BackendContract, config: ConfigView, log: Logger): T | undefined {
  const param = backendParameter(contract);
  const name = (config.get(param) || BUILTIN_BACKEND[contract]).trim();
  if (name === BUILTIN_BACKEND[contract]) return undefined;
  const factory = registry.factory<T>(contract, name);
  if (!factory) throw posternError('POSTERN_ERR_CONFIG_VALUE', 'backend', param, `${name} (installed: ${registry.names(contract).join(', ')})`);
  return factory({ config, log });
}

/** The queue store queue_backend names (LMDB under queue_directory by default). */
export function openConfiguredQueueStore(registry: BackendRegistry, config: ConfigView, log: Logger): QueueStore {
  return openBackend<QueueStore>(registry, 'queue', config, log) ?? openQueueStore({ queueDirectory: config.get('queue_directory'), log });
}

/** Adds every table type installed packages declare to `tables`. */
export function registerPluginTables(tables: TableRegistry, plugins: readonly InstalledPlugin[]): TableRegistry {
  for (const p of plugins) for (const [type, factory] of Object.entries(p.definition.tables ?? {})) tables.registerType(type, factory);
  return tables;
}
