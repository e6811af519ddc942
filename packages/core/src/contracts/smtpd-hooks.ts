import type { ConfigView } from './config.js';
import type { Logger } from './logger.js';
import { token } from './token.js';

/**
 * smtpd's extension points (Postfix's smtpd_check.c restriction classes plus
 * per-stage hooks). A package named in `postern_smtpd_plugins` default-exports
 * (or exports as `smtpdPlugin`) an {@link SmtpdPlugin}: named restrictions that
 * may then appear in any smtpd_*_restrictions list, and hooks that run at each
 * SMTP stage. Everything crossing this contract is plain data.
 */

/** The SMTP stage a check runs at. */
export type SmtpdStage = 'connect' | 'helo' | 'mail' | 'rcpt' | 'data' | 'end-of-data';

/** What smtpd knows when a restriction or hook runs. */
export interface SmtpdCheckState {
  readonly stage: SmtpdStage;
  /** Verified client hostname or "unknown". */
  readonly clientName: string;
  readonly clientAddress: string;
  readonly clientPort: number;
  /** The HELO/EHLO argument, if any. */
  readonly helo?: string;
  /** "SMTP" or "ESMTP". */
  readonly protocol: string;
  /** MAIL FROM address ("" for the null sender); undefined before MAIL. */
  readonly sender?: string;
  /** The recipient of the RCPT being checked (rcpt stage). */
  readonly recipient?: string;
  /** Recipients accepted so far. */
  readonly recipients: readonly string[];
  readonly saslUsername?: string;
  readonly saslMethod?: string;
  readonly encrypted: boolean;
  /** Message size in bytes (end-of-data), or the SIZE= announcement. */
  readonly size?: number;
  /** The queue id once known (end-of-data). */
  readonly queueId?: string;
  /** The postfix instance's myhostname. */
  readonly myhostname: string;
}

/**
 * A verdict, as an access(5) action reads: permit (OK), reject, defer,
 * dunno (no decision: the next restriction runs), and the actions that
 * change what happens to the message.
 */
export interface SmtpdVerdict {
  readonly action:
    | 'permit'
    | 'reject'
    | 'defer'
    | 'dunno'
    | 'defer_if_permit'
    | 'defer_if_reject'
    | 'hold'
    | 'discard'
    | 'filter'
    | 'redirect'
    | 'prepend'
    | 'warn';
  /** SMTP reply code for reject/defer (default: access_map_reject_code / access_map_defer_code). */
  readonly code?: number;
  /** Enhanced status code, e.g. "5.7.1". */
  readonly dsn?: string;
  /** Reply text, or the argument of hold/filter/redirect/prepend/warn. */
  readonly text?: string;
}

/**
 * What smtpd gives a plugin's restrictions and hooks, made once per smtpd
 * process for each plugin: the process's configuration (main.cf with the
 * service's master.cf -o overrides), a logger that names the plugin, and the
 * values of the parameters the plugin's package declares (definePlugin's
 * `parameters`, $names expanded).
 */
export interface SmtpdPluginContext {
  readonly config: ConfigView;
  readonly log: Logger;
  readonly parameters: Readonly<Record<string, string>>;
}

/** A named restriction: usable as `name` in any smtpd_*_restrictions parameter. */
export type SmtpdRestriction = (state: SmtpdCheckState, context: SmtpdPluginContext) => Promise<SmtpdVerdict> | SmtpdVerdict;

/** A restriction or hook with its plugin's context bound: what smtpd calls. */
export type SmtpdCheck = (state: SmtpdCheckState) => Promise<SmtpdVerdict> | SmtpdVerdict;

export interface SmtpdHooks {
  /** Each hook runs before the stage's restriction list; a non-dunno verdict decides like a restriction. */
  readonly connect?: SmtpdRestriction;
  readonly helo?: SmtpdRestriction;
  readonly mail?: SmtpdRestriction;
  readonly rcpt?: SmtpdRestriction;
  readonly data?: SmtpdRestriction;
  readonly 'end-of-data'?: SmtpdRestriction;
}

/** What a package named in postern_smtpd_plugins exports. */
export interface SmtpdPlugin {
  readonly name: string;
  readonly restrictions?: Readonly<Record<string, SmtpdRestriction>>;
  readonly hooks?: SmtpdHooks;
}

/** A registry of restrictions and hooks, for embedders that add them in-process. */
export interface SmtpdHookRegistry {
  /** Adds the plugin's restrictions and hooks, bound to `context` (smtpd makes it when it loads the plugin). */
  add(plugin: SmtpdPlugin, context?: SmtpdPluginContext): void;
  restriction(name: string): SmtpdCheck | undefined;
  hooks(stage: SmtpdStage): SmtpdCheck[];
}

export const SMTPD_HOOKS = token<SmtpdHookRegistry>('SmtpdHookRegistry');
