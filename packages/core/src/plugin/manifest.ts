/**
 * What a plugin package declares (fastify's plugin-utils, Postfix's daemon
 * table): its name and version, the core it needs, the master.cf commands it
 * provides, its parameters with their defaults, the contracts it provides and
 * uses, and for each command the service entry, loaded only in the service's
 * own process.
 */
import type { ParameterSpec } from '../contracts/config.js';
import type { ServiceMain, ServicePreInit } from '../contracts/service.js';
import type { TableFactory } from '../contracts/table.js';
import type { BackendFactory } from '../contracts/backend.js';
import { posternError } from '../errors.js';

/** Contract names a plugin can provide or use (the services of protocol/services.ts, plus core's). */
export type ContractName = string;

export interface CommandDefinition {
  /** One line for `postern check` and the README. */
  readonly description: string;
  /** Imports the service code; runs only in the service process (preInit: see ServicePreInit). */
  readonly load: () => Promise<{ readonly main: ServiceMain; readonly preInit?: ServicePreInit }>;
  /**
   * A daemon that keeps state or schedules work (qmgr, anvil, scache, tlsmgr):
   * max_idle and max_use do not recycle it, as Postfix's own such daemons ignore them.
   */
  readonly longRunning?: boolean;
}

export interface PluginDefinition {
  /** The npm package name, e.g. "@postern/plugin-smtpd". */
  readonly name: string;
  readonly version: string;
  /** semver range of @postern/core this plugin works with. */
  readonly core: string;
  /** master.cf command name -> service entry. */
  readonly commands: Readonly<Record<string, CommandDefinition>>;
  readonly parameters?: readonly ParameterSpec[];
  /** Contracts this plugin serves (e.g. "cleanup", "rewrite"). */
  readonly provides?: readonly ContractName[];
  /** Contracts this plugin calls; the loader checks some installed plugin provides each. */
  readonly uses?: readonly ContractName[];
  /**
   * Contracts this plugin calls when the installation has them (a delivery
   * agent's flush and verify, smtpd's anvil): bound like `uses`, not required.
   */
  readonly mayUse?: readonly ContractName[];
  /**
   * The smtpd restriction names this package provides (smtpd's own, or an
   * smtpd plugin's): `postern check` reports a name in smtpd_*_restrictions
   * that no installed package lists.
   */
  readonly restrictions?: readonly string[];
  /** Lookup-table types this plugin adds (e.g. "redis"). */
  readonly tables?: Readonly<Record<string, TableFactory>>;
  /** Backends this package adds: contract ("queue", "anvil", "flush") -> backend name -> factory (see contracts/backend.ts). */
  readonly backends?: Readonly<Record<string, Readonly<Record<string, BackendFactory>>>>;
}

const NAME = /^(@[a-z0-9][\w.-]*\/)?[a-z0-9][\w.-]*$/;

/** Checks a plugin's declaration and returns it (use as `export const plugin = definePlugin({...})`). */
export function definePlugin(def: PluginDefinition): PluginDefinition {
  const bad = (why: string) => posternError('POSTERN_ERR_PLUGIN_INVALID', def?.name ?? '(unnamed)', why);
  if (!def || typeof def !== 'object') throw bad('definition is not an object');
  if (typeof def.name !== 'string' || !NAME.test(def.name)) throw bad('name must be an npm package name');
  if (typeof def.version !== 'string' || !/^\d+\.\d+\.\d+/.test(def.version)) throw bad('version must be semver');
  if (typeof def.core !== 'string' || def.core.trim() === '') throw bad('core must be a semver range');
  if (!def.commands || typeof def.commands !== 'object') throw bad('commands must be an object');
  for (const [cmd, c] of Object.entries(def.commands)) {
    if (!/^[\w.-]+$/.test(cmd)) throw bad(`bad command name "${cmd}"`);
    if (typeof c?.load !== 'function') throw bad(`command ${cmd}: load must be a function`);
  }
  for (const p of def.parameters ?? []) {
    if (!/^[a-z0-9_]+$/i.test(p.name) || typeof p.default !== 'string') throw bad(`bad parameter ${p.name}`);
  }
  return def;
}
