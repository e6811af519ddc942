/**
 * postern check's restriction check: every name in an smtpd_*_restrictions
 * list (main.cf, and each smtpd service's master.cf -o overrides) must be
 * one an installed package provides (smtpd's own, an smtpd plugin's from
 * postern_smtpd_plugins) or a class of smtpd_restriction_classes. Postfix
 * finds an unknown name only when a client meets it (451 4.3.5 Server
 * configuration error); knowing every installed package, check can tell
 * before start.
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Configuration, ConfigView, PluginSet, SmtpdPlugin } from '@postern/core';

/** Words that take the next word as their argument (a table, a server, a DNS domain). */
function takesArgument(word: string): boolean {
  return /^check_/.test(word) || /(^|_)(rbl|rhsbl|dnswl|rhswl)(_|$)/.test(word);
}

/** Restriction names of the smtpd plugins `view` names (postern_smtpd_plugins), imported as smtpd would. */
async function smtpdPluginNames(view: ConfigView, plugins: PluginSet): Promise<{ names: Set<string>; problems: string[] }> {
  const names = new Set<string>();
  const problems: string[] = [];
  const smtpd = plugins.commands.get('smtpd');
  const from = createRequire(join(smtpd?.dir ?? process.cwd(), 'package.json'));
  for (const pkg of view.list('postern_smtpd_plugins')) {
    try {
      const mod = (await import(pathToFileURL(from.resolve(pkg)).href)) as { default?: SmtpdPlugin; smtpdPlugin?: SmtpdPlugin };
      for (const n of Object.keys((mod.smtpdPlugin ?? mod.default)?.restrictions ?? {})) names.add(n.toLowerCase());
    } catch (err) {
      problems.push(`postern_smtpd_plugins: cannot load ${pkg}: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  return { names, problems };
}

/** One line per unknown restriction name (with where it is), and per smtpd plugin that cannot be loaded. */
export async function unknownRestrictions(configuration: Configuration, plugins: PluginSet): Promise<string[]> {
  const provided = new Set<string>();
  for (const p of plugins.plugins) for (const n of p.definition.restrictions ?? []) provided.add(n.toLowerCase());
  const views: { view: ConfigView; where: string }[] = [{ view: configuration.view(), where: 'main.cf' }];
  for (const e of configuration.entries) {
    if (e.command === 'smtpd' && Object.keys(e.overrides).length > 0) views.push({ view: configuration.view(e), where: `master.cf ${e.name}/${e.type}` });
  }
  const params = new Set([...configuration.registry.names(), ...configuration.mainCf.params.keys()].filter((n) => /^smtpd_\w+_restrictions$/.test(n)));
  const out = new Set<string>();
  for (const { view, where } of views) {
    const known = new Set(provided);
    const plugin = await smtpdPluginNames(view, plugins);
    for (const n of plugin.names) known.add(n);
    for (const p of plugin.problems) out.add(p);
    const classes = view.list('smtpd_restriction_classes');
    for (const c of classes) known.add(c.toLowerCase());
    for (const param of [...params, ...classes]) {
      const words = view.list(param);
      for (let i = 0; i < words.length; i++) {
        const w = words[i]!;
        if (/[:/=]/.test(w)) continue; // a table or an argument
        if (!known.has(w.toLowerCase())) out.add(`${where}: ${param}: unknown restriction "${w}": no installed package provides it`);
        if (takesArgument(w.toLowerCase())) i++;
      }
    }
  }
  return [...out];
}
