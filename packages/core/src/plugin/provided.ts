/**
 * What the installed packages add to every process besides services: lookup
 * table types (PluginDefinition.tables) and queue backends
 * (PluginDefinition.queueBackends), the one in use named by main.cf
 * `queue_backend`.
 */
import type { ConfigView } from '../contracts/config.js';
import type { Logger } from '../contracts/logger.js';
import type { QueueBackend, QueueStore } from '../contracts/queue.js';
import type { TableFactory, TableRegistry } from '../contracts/table.js';
import { posternError } from '../errors.js';
import { newTableRegistry } from '../tables/registry.js';
import type { PluginSet } from './loader.js';

/** type -> factory over every installed package (the first package found wins a type). */
export function tableTypes(plugins: PluginSet): Record<string, TableFactory> {
  const out: Record<string, TableFactory> = {};
  for (const p of plugins.plugins) for (const [type, f] of Object.entries(p.definition.tables ?? {})) out[type] ??= f;
  return out;
}

/** A table registry with every installed package's table types. */
export function pluginTableRegistry(plugins: PluginSet, log?: Logger): TableRegistry {
  return newTableRegistry({ log, types: tableTypes(plugins) });
}

/** name -> backend over every installed package. */
export function queueBackends(plugins: PluginSet): Map<string, QueueBackend> {
  const out = new Map<string, QueueBackend>();
  for (const p of plugins.plugins) for (const [name, b] of Object.entries(p.definition.queueBackends ?? {})) if (!out.has(name)) out.set(name, b);
  return out;
}

/** The backend main.cf queue_backend names; POSTERN_ERR_QUEUE_BACKEND when no package provides it. */
export function queueBackend(plugins: PluginSet, config: ConfigView): QueueBackend {
  const name = config.get('queue_backend');
  const all = queueBackends(plugins);
  const backend = all.get(name);
  if (!backend) throw posternError('POSTERN_ERR_QUEUE_BACKEND', name, [...all.keys()].join(' ') || 'none');
  return backend;
}

/** Opens the configured queue store. */
export function openConfiguredQueue(plugins: PluginSet, config: ConfigView, log?: Logger): QueueStore {
  return queueBackend(plugins, config)({ queueDirectory: config.get('queue_directory'), log, config });
}
