/**
 * The plugin loader: finds installed plugin packages, checks each against the
 * core version it needs, maps master.cf commands to the packages that provide
 * them, and checks that every contract a loaded plugin uses is provided.
 * Every failure is a coded error that names the package to install.
 *
 * Plugin packages are found by name in the node_modules directories Node
 * would search from core (so Postern's own packages and third-party ones
 * installed beside them are found alike) and in extra directories (daemon_directory):
 *   @postern/plugin-*, postern-plugin-*, @scope/postern-plugin-*
 * A package's main module exports `plugin` (see definePlugin).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import satisfies from 'semver/functions/satisfies.js';
import type { MasterEntry } from '../contracts/service.js';
import { describeError, posternError, PosternError } from '../errors.js';
import { COMMAND_PACKAGES, CONTRACT_PACKAGES, CORE_CONTRACTS } from '../protocol/packages.js';
import { definePlugin, type PluginDefinition } from './manifest.js';

export interface InstalledPlugin {
  readonly name: string;
  readonly version: string;
  /** The package directory. */
  readonly dir: string;
  /** Absolute path of the module that exports `plugin` (package.json postern.plugin, else the main module). */
  readonly entry: string;
  /** Absolute path of the package's main module (its library exports). */
  readonly main: string;
  readonly definition: PluginDefinition;
}

export interface PluginSet {
  readonly plugins: readonly InstalledPlugin[];
  /** Packages that look like plugins but could not be loaded, with the reason (and the commands they declare, when known). */
  readonly broken: readonly { readonly name: string; readonly error: Error; readonly commands: readonly string[] }[];
  /** command -> provider */
  readonly commands: ReadonlyMap<string, InstalledPlugin>;
  readonly searchDirs: readonly string[];
}

const here = dirname(fileURLToPath(import.meta.url));

/** core's own version, from its package.json. */
export const CORE_VERSION: string = (() => {
  let dir = here;
  for (;;) {
    const p = join(dir, 'package.json');
    if (existsSync(p)) {
      const pkg = JSON.parse(readFileSync(p, 'utf8')) as { name?: string; version: string };
      if (pkg.name === '@postern/core') return pkg.version;
    }
    const up = dirname(dir);
    if (up === dir) return '0.0.0';
    dir = up;
  }
})();

/** node_modules directories Node would search from core, then the extra ones. */
export function pluginSearchDirs(extra: readonly string[] = []): string[] {
  const fromCore = createRequire(import.meta.url).resolve.paths('@postern/core') ?? [];
  const dirs = [...extra.map((d) => resolve(d)), ...fromCore, join(process.cwd(), 'node_modules')];
  return [...new Set(dirs)].filter((d) => {
    try {
      return statSync(d).isDirectory();
    } catch {
      return false;
    }
  });
}

function isPluginName(name: string): boolean {
  return /^@postern\/plugin-[\w.-]+$/.test(name) || /^(@[\w.-]+\/)?postern-plugin-[\w.-]+$/.test(name);
}

/**
 * A library package (not named as a plugin) that still adds something through
 * a plugin declaration (queue backends, table types, shared-state backends)
 * says so with `"postern": { "plugin": true }` in its package.json.
 */
function declaresPlugin(dir: string): boolean {
  try {
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { postern?: { plugin?: unknown } };
    return pkg.postern?.plugin === true || typeof pkg.postern?.plugin === 'string';
  } catch {
    return false;
  }
}

function candidates(dir: string): string[] {
  const out: string[] = [];
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return out;
  }
  for (const n of names) {
    if (n.startsWith('@')) {
      let scoped: string[] = [];
      try {
        scoped = readdirSync(join(dir, n));
      } catch {
        /* not a directory */
      }
      for (const s of scoped) if (isPluginName(`${n}/${s}`) || declaresPlugin(join(dir, n, s))) out.push(join(dir, n, s));
    } else if (isPluginName(n)) out.push(join(dir, n));
  }
  return out;
}

function packageEntry(dir: string, pkg: { main?: string; exports?: unknown }): string {
  const exp = pkg.exports as Record<string, unknown> | string | undefined;
  let rel: string | undefined;
  if (typeof exp === 'string') rel = exp;
  else if (exp && typeof exp === 'object') {
    const dot = (exp as Record<string, unknown>)['.'];
    if (typeof dot === 'string') rel = dot;
    else if (dot && typeof dot === 'object') {
      const d = dot as Record<string, unknown>;
      rel = (d['import'] ?? d['default'] ?? d['node']) as string | undefined;
    }
  }
  return join(dir, rel ?? pkg.main ?? 'index.js');
}

/** Imports one plugin package and checks it. */
export async function loadPlugin(dir: string): Promise<InstalledPlugin> {
  const pkgPath = join(dir, 'package.json');
  let pkg: { name: string; version: string; main?: string; exports?: unknown; postern?: { plugin?: unknown } };
  try {
    pkg = JSON.parse(readFileSync(pkgPath, 'utf8'));
  } catch (err) {
    throw posternError('POSTERN_ERR_PLUGIN_INVALID', dir, `cannot read package.json: ${(err as Error).message}`);
  }
  // package.json "postern": { "plugin": "./dist/src/plugin.js" } names a module with the
  // manifest only, so that finding the plugins does not load every package's implementation
  const manifest = pkg.postern?.plugin;
  const main = packageEntry(dir, pkg);
  const entry = typeof manifest === 'string' ? join(dir, manifest) : main;
  let mod: { plugin?: PluginDefinition };
  try {
    mod = (await import(pathToFileURL(entry).href)) as { plugin?: PluginDefinition };
  } catch (err) {
    throw posternError('POSTERN_ERR_PLUGIN_INVALID', pkg.name, `cannot load ${entry}: ${(err as Error).message}`);
  }
  if (!mod.plugin) throw posternError('POSTERN_ERR_PLUGIN_INVALID', pkg.name, `${entry} does not export "plugin"`);
  const definition = definePlugin(mod.plugin);
  if (definition.name !== pkg.name) {
    const err = posternError('POSTERN_ERR_PLUGIN_INVALID', pkg.name, `it declares the name ${definition.name}`);
    throw Object.assign(err, { commands: Object.keys(definition.commands) });
  }
  if (!satisfies(CORE_VERSION, definition.core, { includePrerelease: true })) {
    const err = posternError('POSTERN_ERR_PLUGIN_CORE_VERSION', definition.name, definition.version, definition.core, CORE_VERSION, definition.name);
    throw Object.assign(err, { commands: Object.keys(definition.commands) });
  }
  return { name: pkg.name, version: pkg.version, dir, entry, main, definition };
}

/**
 * Finds and loads every installed plugin. The first package found under a name
 * wins (search order), as Node's resolution would; two different packages
 * that provide one command are an error.
 */
export async function discoverPlugins(extraDirs: readonly string[] = []): Promise<PluginSet> {
  const searchDirs = pluginSearchDirs(extraDirs);
  const seen = new Set<string>();
  const plugins: InstalledPlugin[] = [];
  const broken: { name: string; error: Error; commands: readonly string[] }[] = [];
  for (const dir of searchDirs) {
    for (const candidate of candidates(dir)) {
      const name = candidate.slice(dir.length + 1).split('\\').join('/');
      if (seen.has(name)) continue;
      seen.add(name);
      // A package that fails to load only matters if master.cf needs it (resolveServices says so).
      try {
        plugins.push(await loadPlugin(candidate));
      } catch (err) {
        broken.push({ name, error: err as Error, commands: (err as { commands?: string[] }).commands ?? [] });
      }
    }
  }
  const commands = new Map<string, InstalledPlugin>();
  for (const p of plugins) {
    for (const cmd of Object.keys(p.definition.commands)) {
      const other = commands.get(cmd);
      if (other) throw posternError('POSTERN_ERR_PLUGIN_CONFLICT', cmd, other.name, p.name);
      commands.set(cmd, p);
    }
  }
  return { plugins, broken, commands, searchDirs };
}

/**
 * Maps every enabled master.cf entry to its provider and checks the contracts
 * the chosen plugins use. Commented-out services are not in `entries` and need
 * no package.
 */
export function resolveServices(entries: readonly MasterEntry[], set: PluginSet): Map<MasterEntry, InstalledPlugin> {
  const out = new Map<MasterEntry, InstalledPlugin>();
  const missing: Error[] = [];
  for (const e of entries) {
    const provider = set.commands.get(e.command);
    if (!provider) {
      const pkg = COMMAND_PACKAGES[e.command] ?? `a package providing "${e.command}"`;
      const failed = set.broken.find((b) => b.commands.includes(e.command) || b.name === COMMAND_PACKAGES[e.command]);
      missing.push(failed ? failed.error : posternError('POSTERN_ERR_PLUGIN_MISSING', e.name, e.type, e.command, pkg, pkg));
      continue;
    }
    out.set(e, provider);
  }
  // every missing package at once, so one `postern check` tells the whole story
  if (missing.length === 1) throw missing[0]!;
  if (missing.length > 1) {
    const text = missing.map((m) => describeError(m)).join('\n');
    throw new PosternError('POSTERN_ERR_PLUGIN_MISSING', text);
  }
  const provided = new Set<string>(CORE_CONTRACTS);
  for (const p of set.plugins) for (const c of p.definition.provides ?? []) provided.add(c);
  for (const p of new Set(out.values())) {
    for (const used of p.definition.uses ?? []) {
      if (!provided.has(used)) {
        const pkg = CONTRACT_PACKAGES[used] ?? `a plugin providing "${used}"`;
        throw posternError('POSTERN_ERR_PLUGIN_DEPENDENCY', p.name, used, pkg);
      }
    }
  }
  return out;
}
