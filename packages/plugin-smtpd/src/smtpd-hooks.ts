/**
 * The registry of plugin restrictions and stage hooks (the contract is
 * core's SmtpdPlugin), and the loader for the packages named in
 * postern_smtpd_plugins. Each plugin's functions are bound to its context:
 * the configuration view, a logger named after the plugin, and the values of
 * the parameters its package declares.
 */
import type { ConfigView, Logger, PluginDefinition, SmtpdCheck, SmtpdHookRegistry, SmtpdPlugin, SmtpdPluginContext, SmtpdRestriction, SmtpdStage } from '@postern/core';

export function createHookRegistry(): SmtpdHookRegistry {
  const restrictions = new Map<string, SmtpdCheck>();
  const hooks = new Map<SmtpdStage, SmtpdCheck[]>();
  return {
    add(plugin: SmtpdPlugin, context?: SmtpdPluginContext) {
      const bind = (fn: SmtpdRestriction): SmtpdCheck => (state) => fn(state, context!);
      for (const [name, fn] of Object.entries(plugin.restrictions ?? {})) {
        const key = name.toLowerCase();
        if (restrictions.has(key)) throw new Error(`smtpd restriction "${name}" of ${plugin.name} is already defined`);
        restrictions.set(key, bind(fn));
      }
      for (const [stage, fn] of Object.entries(plugin.hooks ?? {}) as [SmtpdStage, SmtpdRestriction | undefined][]) {
        if (!fn) continue;
        const list = hooks.get(stage) ?? [];
        list.push(bind(fn));
        hooks.set(stage, list);
      }
    },
    restriction(name) {
      return restrictions.get(name.toLowerCase());
    },
    hooks(stage) {
      return hooks.get(stage) ?? [];
    },
  };
}

/** The context of one plugin: `definition` is its package's definePlugin, when it has one. */
export function pluginContext(config: ConfigView, log: Logger, plugin: SmtpdPlugin, definition?: PluginDefinition): SmtpdPluginContext {
  const parameters: Record<string, string> = {};
  for (const p of definition?.parameters ?? []) parameters[p.name] = config.get(p.name);
  return { config, log: prefixed(log, `${plugin.name}: `), parameters };
}

/** smtpd's logger with the plugin's name before each line ("postern/smtpd[pid]: warning: acme: text"). */
function prefixed(log: Logger, prefix: string): Logger {
  return {
    get verbose() {
      return log.verbose;
    },
    info: (t) => log.info(prefix + t),
    warn: (t) => log.warn(prefix + t),
    error: (t) => log.error(prefix + t),
    fatal: (t) => log.fatal(prefix + t),
    panic: (t) => log.panic(prefix + t),
    debug: (t) => log.debug(prefix + t),
    child: (program) => prefixed(log.child(program), prefix),
  };
}

/** Imports each package and adds its default export (or its `smtpdPlugin` export). */
export async function loadSmtpdPlugins(
  names: readonly string[],
  registry: SmtpdHookRegistry,
  log: Logger,
  importer: (name: string) => Promise<Record<string, unknown>> = (n) => import(n),
  config?: ConfigView,
): Promise<void> {
  for (const name of names) {
    const mod = await importer(name);
    const plugin = (mod.smtpdPlugin ?? mod.default) as SmtpdPlugin | undefined;
    if (!plugin || typeof plugin !== 'object' || (!plugin.restrictions && !plugin.hooks)) {
      throw new Error(`postern_smtpd_plugins: ${name} exports no smtpd plugin (default or smtpdPlugin)`);
    }
    const definition = mod.plugin as PluginDefinition | undefined;
    registry.add(plugin, config ? pluginContext(config, log, plugin, definition) : undefined);
    log.debug(`smtpd plugin ${plugin.name} loaded from ${name}`);
  }
}
