/**
 * The registry of plugin restrictions and stage hooks (the contract is
 * core's SmtpdPlugin), and the loader for the packages named in
 * postern_smtpd_plugins.
 */
import type { Logger, SmtpdHookRegistry, SmtpdPlugin, SmtpdRestriction, SmtpdStage } from '@postern/core';

export function createHookRegistry(): SmtpdHookRegistry {
  const restrictions = new Map<string, SmtpdRestriction>();
  const hooks = new Map<SmtpdStage, SmtpdRestriction[]>();
  return {
    add(plugin: SmtpdPlugin) {
      for (const [name, fn] of Object.entries(plugin.restrictions ?? {})) {
        const key = name.toLowerCase();
        if (restrictions.has(key)) throw new Error(`smtpd restriction "${name}" of ${plugin.name} is already defined`);
        restrictions.set(key, fn);
      }
      for (const [stage, fn] of Object.entries(plugin.hooks ?? {}) as [SmtpdStage, SmtpdRestriction | undefined][]) {
        if (!fn) continue;
        const list = hooks.get(stage) ?? [];
        list.push(fn);
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

/** Imports each package and adds its default export (or its `smtpdPlugin` export). */
export async function loadSmtpdPlugins(
  names: readonly string[],
  registry: SmtpdHookRegistry,
  log: Logger,
  importer: (name: string) => Promise<Record<string, unknown>> = (n) => import(n),
): Promise<void> {
  for (const name of names) {
    const mod = await importer(name);
    const plugin = (mod.smtpdPlugin ?? mod.default) as SmtpdPlugin | undefined;
    if (!plugin || typeof plugin !== 'object' || (!plugin.restrictions && !plugin.hooks)) {
      throw new Error(`postern_smtpd_plugins: ${name} exports no smtpd plugin (default or smtpdPlugin)`);
    }
    registry.add(plugin);
    log.debug(`smtpd plugin ${plugin.name} loaded from ${name}`);
  }
}
