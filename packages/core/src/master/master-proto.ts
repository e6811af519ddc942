/**
 * Messages between master and its service processes over Node's IPC channel
 * (the equivalent of Postfix's master status pipe and descriptor passing).
 */
import type { MasterEntry } from '../contracts/service.js';
import type { DropTo } from './master-privs.js';

/** How master describes a service to the process it starts (environment POSTERN_SERVICE). */
export interface ChildSpec {
  readonly configDirectory: string;
  readonly entry: MasterEntry;
  /** Absolute path of the plugin package's entry module. */
  readonly pluginEntry: string;
  readonly pluginName: string;
  /** Directories searched for plugin packages (for the parameter registry). */
  readonly searchDirs: readonly string[];
  readonly longRunning: boolean;
  /** Log to this file instead of maillog_file (start-fg: /dev/stdout). */
  readonly logFile?: string;
  readonly verbose: boolean;
  /**
   * An unprivileged service of a master that runs as root: the process starts
   * as root and drops to this account once it has opened its tables and the
   * queue (master-privs.ts).
   */
  readonly dropTo?: DropTo;
}

export const CHILD_ENV = 'POSTERN_SERVICE';

export type ToChild =
  /** Listen on socket `index` of the service; `lend`: send a descriptor of it back. */
  | { readonly t: 'listen'; readonly index: number; readonly lend: boolean }
  | { readonly t: 'conn' }
  | { readonly t: 'trigger'; readonly data: string }
  /** A message (and maybe a socket) another service process relayed through master. */
  | { readonly t: 'relay'; readonly from: number; readonly data: unknown }
  | { readonly t: 'stop'; readonly graceful: boolean }
  /** A spare process (master-spare.ts): be this service. */
  | { readonly t: 'become'; readonly spec: ChildSpec };

export type ToMaster =
  | { readonly t: 'ready' }
  /** A spare process has loaded the plugins and waits for a service. */
  | { readonly t: 'warm' }
  /** A descriptor of listening socket `index`, for master to hold (with the handle). */
  | { readonly t: 'lent'; readonly index: number }
  /** Load report: connections held and event-loop utilisation over the last interval (0..1). */
  | { readonly t: 'load'; readonly clients: number; readonly elu: number }
  /** The process is leaving of its own accord (max_idle, max_use, asked to stop). */
  | { readonly t: 'bye'; readonly reason: string }
  /** Relay a message (and maybe a socket) to the service process `to` (service/relay.ts). */
  | { readonly t: 'relay'; readonly to: number; readonly data: unknown }
  /** Hand a connection to a pass service (postscreen -> smtpd). */
  | { readonly t: 'pass'; readonly service: string }
  | { readonly t: 'fatal'; readonly text: string };
