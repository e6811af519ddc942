/**
 * Backends: implementations of core's storage contracts that a package adds
 * through its plugin declaration (PluginDefinition.backends), chosen by one
 * main.cf parameter per contract. A second queue backend, or shared anvil
 * counters on Redis, is therefore a package plus one line of main.cf:
 *
 *   queue_backend = redis          (default lmdb: the embedded queue)
 *   anvil_backend = redis          (default internal: anvil's memory)
 *   flush_backend = redis          (default internal: queue_directory/flush)
 *
 * A backend factory runs in the process that needs the contract, with that
 * process's configuration and logger.
 */
import type { ConfigView } from './config.js';
import type { Logger } from './logger.js';
import { token } from './token.js';

export interface BackendContext {
  readonly config: ConfigView;
  readonly log: Logger;
}

export type BackendFactory<T = unknown> = (ctx: BackendContext) => T;

/** The contracts with pluggable backends, and the parameter that names each one's backend. */
export const BACKEND = {
  QUEUE: 'queue',
  ANVIL: 'anvil',
  FLUSH: 'flush',
} as const;
export type BackendContract = (typeof BACKEND)[keyof typeof BACKEND];

/** main.cf parameter of a contract's backend: queue_backend, anvil_backend, flush_backend. */
export function backendParameter(contract: BackendContract): string {
  return `${contract}_backend`;
}

/** The built-in backend of each contract (served by core or the daemon itself). */
export const BUILTIN_BACKEND: Readonly<Record<BackendContract, string>> = {
  queue: 'lmdb',
  anvil: 'internal',
  flush: 'internal',
};

export interface BackendRegistry {
  /** Backend names installed for `contract` (the built-in one included). */
  names(contract: BackendContract): string[];
  /** The factory of backend `name` for `contract`, or undefined when no installed package provides it. */
  factory<T>(contract: BackendContract, name: string): BackendFactory<T> | undefined;
}

export const BACKENDS = token<BackendRegistry>('Backends');
