/**
 * The configuration as master and every service process read it: main.cf,
 * master.cf, and the parameter registry made of core's parameters and those
 * of every installed plugin. A view per master.cf entry applies its -o
 * overrides; warnings are Postfix's "unused parameter" reports.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ConfigView } from '../contracts/config.js';
import { entryKey, type MasterEntry } from '../contracts/service.js';
import {
  checkUnusedParameters,
  createConfigView,
  loadMainCf,
  loadMasterCf,
  parseMainCf,
  ParameterRegistry,
  type MainCf,
  type MasterCfEntry,
} from '../config/index.js';
import type { PluginSet } from '../plugin/loader.js';

export interface Configuration {
  readonly configDirectory: string;
  readonly mainCf: MainCf;
  /** Enabled master.cf entries, in file order. */
  readonly entries: readonly MasterCfEntry[];
  readonly registry: ParameterRegistry;
  /** "unused parameter" and "not supported" reports, and main.cf's own warnings. */
  readonly warnings: readonly string[];
  /** The view of a process of `entry` (its -o overrides applied), or of master/commands. */
  view(entry?: MasterEntry): ConfigView;
}

/** core's parameters plus every installed plugin's. */
export function parameterRegistry(plugins: PluginSet): ParameterRegistry {
  const registry = ParameterRegistry.withCore();
  for (const p of plugins.plugins) registry.declare(p.name, p.definition.parameters ?? []);
  return registry;
}

export async function loadConfiguration(configDirectory: string, plugins: PluginSet): Promise<Configuration> {
  const mainCf = await loadMainCf(configDirectory);
  const registry = parameterRegistry(plugins);
  const probe = createConfigView({ mainCf, registry, configDirectory });
  const entries = await loadMasterCf(configDirectory, { defaultProcessLimit: probe.int('default_process_limit') });
  registry.addServices(entries);
  const warnings = [...mainCf.warnings, ...checkUnusedParameters(mainCf, entries, registry)];
  const views = new Map<string, ConfigView>();
  return {
    configDirectory,
    mainCf,
    entries,
    registry,
    warnings,
    view(entry?: MasterEntry): ConfigView {
      const key = entry ? entryKey(entry) : '';
      let v = views.get(key);
      if (!v) {
        v = createConfigView({
          mainCf,
          registry,
          configDirectory,
          overrides: entry?.overrides,
          runtime: entry ? { service_name: entry.name, process_name: entry.command } : { process_name: 'master' },
        });
        views.set(key, v);
      }
      return v;
    },
  };
}

/**
 * main.cf read with core's parameters only, before the plugins are found:
 * what a command needs first (daemon_directory, queue_directory). Empty when
 * there is no main.cf.
 */
export function coreMainCfView(configDirectory: string): { view: ConfigView; mainCf: MainCf } {
  let text = '';
  try {
    text = readFileSync(join(configDirectory, 'main.cf'), 'utf8');
  } catch {
    /* no main.cf: the defaults */
  }
  const mainCf = parseMainCf(text, join(configDirectory, 'main.cf'));
  return { view: createConfigView({ mainCf, registry: ParameterRegistry.withCore(), configDirectory }), mainCf };
}

/**
 * Extra plugin directories named in main.cf (daemon_directory, where Postfix
 * keeps its daemon programs), read before the registry exists.
 */
export function pluginDirsFromMainCf(configDirectory: string, early = coreMainCfView(configDirectory)): string[] {
  const { view, mainCf } = early;
  const dir = view.get('daemon_directory');
  return mainCf.params.has('daemon_directory') && dir ? [dir] : [];
}
