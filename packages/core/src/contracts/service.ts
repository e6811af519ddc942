import type { Socket } from 'node:net';
import type { DependencyContainer } from 'tsyringe';
import type { ConfigView } from './config.js';
import type { Logger } from './logger.js';
import { token } from './token.js';

/** master.cf's service types. */
export type ServiceType = 'inet' | 'unix' | 'unix-dgram' | 'fifo' | 'pass';

/** One master.cf entry, parsed (master(5)). */
export interface MasterEntry {
  /** Service name as written: "smtp", "127.0.0.1:2525", "cleanup". */
  readonly name: string;
  readonly type: ServiceType;
  readonly private: boolean;
  readonly unprivileged: boolean;
  readonly chroot: boolean;
  /** Seconds between wakeup triggers; 0 = none. */
  readonly wakeup: number;
  /** wakeup with a trailing "?": only after the service has been used. */
  readonly wakeupIfUsed: boolean;
  /** 0 = unlimited. */
  readonly maxproc: number;
  readonly command: string;
  /** Arguments after the command, with -o options removed. */
  readonly args: readonly string[];
  /** -o name=value overrides, in order. */
  readonly overrides: Readonly<Record<string, string>>;
  /** Other command flags: -v, -D, -S ... */
  readonly flags: readonly string[];
  readonly file: string;
  readonly line: number;
}

/**
 * A master.cf entry made in code (a service run in-process by a test or an
 * embedder): a private, unprivileged unix service with no wakeup and no
 * process limit unless `fields` says otherwise.
 */
export function masterEntry(fields: Pick<MasterEntry, 'name' | 'command'> & Partial<MasterEntry>): MasterEntry {
  return {
    type: 'unix',
    private: true,
    unprivileged: true,
    chroot: false,
    wakeup: 0,
    wakeupIfUsed: false,
    maxproc: 0,
    args: [],
    overrides: {},
    flags: [],
    file: 'master.cf',
    line: 0,
    ...fields,
  };
}

/** `service/type`: the key that names an entry (postconf -M smtp/inet). */
export function entryKey(entry: Pick<MasterEntry, 'name' | 'type'>): string {
  return `${entry.name}/${entry.type}`;
}

/** What master hands a service process: the equivalent of Postfix's *_server_main(). */
export interface ServiceContext {
  readonly entry: MasterEntry;
  readonly config: ConfigView;
  readonly log: Logger;
  /** A child container with core's contracts (config, logger, tables, queue, service clients). */
  readonly container: DependencyContainer;
  /** Each connection accepted on the service's endpoint (inet, unix, pass). */
  onConnection(handler: (socket: Socket) => void): void;
  /** Wakeup timer events from master ("W") and bytes written to a fifo endpoint. */
  onTrigger(handler: (data: Buffer) => void): void;
  /** Set when master asks the process to finish (stop, reload, max_use, max_idle). */
  readonly signal: AbortSignal;
}

/** What a service's entry returns: how master's process runtime stops it. */
export interface ServiceInstance {
  /** Stops accepting work; with graceful, finishes what is in progress first. */
  stop(graceful: boolean): Promise<void>;
  /**
   * The contracts this instance serves, by name, as local objects: a service
   * hosted in the same process binds them instead of their clients
   * (startServicesInProcess), so its calls cross no socket.
   */
  readonly provides?: Readonly<Record<string, unknown>>;
}

/** A service's entry point (the plugin fills this one function in). */
export type ServiceMain = (ctx: ServiceContext) => Promise<ServiceInstance | void>;

/**
 * What a service reads before its process drops privileges (Postfix's
 * pre_init): files only root may read, such as a TLS private key. It runs
 * after the skeleton opened the package's tables and the queue store, gets
 * the context main() will get (no connection arrives yet) and leaves what it
 * read in ctx.container for main(). Not called when a test runs main() alone.
 */
export type ServicePreInit = (ctx: ServiceContext) => Promise<void> | void;

export const SERVICE_CONTEXT = token<ServiceContext>('ServiceContext');

/** master.cf's effective maxproc of every service (qmgr limits delivery concurrency per transport with it). */
export const SERVICE_PROCESS_LIMITS = token<Readonly<Record<string, number>>>('ServiceProcessLimits');
