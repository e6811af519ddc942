/**
 * local(8) state (Postfix's local.h: LOCAL_STATE, DELIVER_ATTR, USER_ATTR):
 * the settings read from main.cf, the per-request context and the
 * attributes of one node of the expansion tree.
 */
import { splitOutsideBraces } from '@postern/tables';
import type { ConfigView, DeliveryRequest, DeliveryService, Logger, LookupTable, RecipientResult, TableRegistry } from '@postern/core';
import type { LockMethod } from '@postern/mailbox';

export type ExpansionType = 'alias' | 'forward' | 'include';

export interface LocalSettings {
  readonly aliasMaps: string;
  readonly forwardPath: string[];
  readonly homeMailbox: string;
  readonly mailSpoolDirectory: string;
  readonly mailboxCommand: string;
  readonly mailboxCommandMaps: string;
  readonly allowMailToCommands: readonly ExpansionType[];
  readonly allowMailToFiles: readonly ExpansionType[];
  readonly luserRelay: string;
  readonly mailboxTransport: string;
  readonly mailboxTransportMaps: string;
  readonly fallbackTransport: string;
  readonly fallbackTransportMaps: string;
  readonly recipientDelimiter: string;
  readonly defaultPrivs: string;
  readonly commandTimeLimit: number;
  readonly commandExpansionFilter: string;
  readonly forwardExpansionFilter: string;
  readonly localCommandShell: string;
  readonly commandExecutionDirectory: string;
  readonly expandOwnerAlias: boolean;
  readonly ownerRequestSpecial: boolean;
  readonly duplicateFilterLimit: number;
  readonly enableOriginalRecipient: boolean;
  readonly mailboxSizeLimit: number;
  readonly prependDeliveredHeader: readonly string[];
  readonly strictMailboxOwnership: boolean;
  readonly mailboxDeliveryLock: readonly LockMethod[];
  readonly lockAttempts: number;
  readonly lockDelay: number;
  readonly staleLockTime: number;
  readonly exportEnvironment: readonly string[];
  readonly myorigin: string;
  readonly mydestination: readonly string[];
  readonly queueDirectory: string;
  readonly doubleBounceSender: string;
}

/** A passwd entry (getpwnam). */
export interface PasswdEntry {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
  readonly shell: string;
}

/** The privileges commands and files run with (Postfix's USER_ATTR). */
export interface Privileges {
  readonly uid: number;
  readonly gid: number;
  /** The account's home and shell; absent for privileges that are not an account's (default_privs for a root-owned alias). */
  readonly home?: string;
  readonly shell?: string;
  /** The account name the privileges belong to (log text). */
  readonly logname: string;
}

/** One node of the expansion: where we are and on whose behalf. */
export interface DeliverAttr {
  /** Recursion depth: 0 for the queue recipient. */
  readonly level: number;
  /** The address being delivered. */
  readonly recipient: string;
  /** The original recipient (before any rewriting or aliasing). */
  readonly original: string;
  /** The envelope sender (owner-alias when expanding a list with an owner). */
  readonly sender: string;
  /** The address that Delivered-To: names for deliveries at this node. */
  readonly delivered: string;
  /** What expanded into this node: allow_mail_to_commands/files are checked against it. */
  readonly expType?: ExpansionType;
  /** Privileges for command and file destinations at this node. */
  readonly privs?: Privileges;
  /**
   * Postfix's owner attribute: the user whose .forward, or the owner- alias
   * whose list, this node came from. A local address listed there for
   * another user is resubmitted as a new message (so a .forward loop meets
   * the Delivered-To: check).
   */
  readonly owner?: string;
  /** What expanded into the address at this node (an :include: file's addresses are always resubmitted). */
  readonly parentType?: ExpansionType;
  /** Human-readable trail: "alias list", "forward file /home/u/.forward" ... */
  readonly via?: string;
}

/** What a request carries through the expansion. */
export interface LocalRequest {
  readonly request: DeliveryRequest;
  readonly content: Buffer;
  /** Delivered-To: header values, lowercased. */
  readonly deliveredTo: ReadonlySet<string>;
  readonly settings: LocalSettings;
  readonly config: ConfigView;
  readonly tables: TableRegistry;
  readonly aliasTables: readonly LookupTable[];
  readonly log: Logger;
  readonly signal: AbortSignal;
  /** been_here(): keys of destinations already handled in this request. */
  readonly dup: DupFilter;
  readonly forwards: ForwardQueue;
  /** Clients of other master.cf delivery agents (mailbox_transport, fallback_transport). */
  readonly delivery?: (transport: string) => DeliveryService;
}

/** Postfix's been_here(3) with duplicate_filter_limit. */
export class DupFilter {
  private readonly seen = new Set<string>();
  constructor(private readonly limit: number) {}
  /** True when `key` was seen before; otherwise remembers it (while under the limit). */
  check(key: string): boolean {
    if (this.seen.has(key)) return true;
    if (this.limit <= 0 || this.seen.size < this.limit) this.seen.add(key);
    return false;
  }
}

/** A forwarded address waiting for re-injection (forward.c). */
export interface ForwardEntry {
  readonly sender: string;
  readonly delivered: string;
  readonly address: string;
  readonly original: string;
  /** Index of the queue recipient on whose behalf we forward. */
  readonly index: number;
}

export class ForwardQueue {
  readonly entries: ForwardEntry[] = [];
  add(entry: ForwardEntry): void {
    this.entries.push(entry);
  }
}

/** The outcome of one leaf of the expansion. */
export interface LeafResult {
  readonly status: 'sent' | 'deferred' | 'bounced';
  readonly dsn: string;
  readonly reason: string;
  /** The address the leaf delivered (for multi-leaf reasons). */
  readonly address?: string;
  /** A forwarded leaf: its final status comes from the cleanup submission. */
  readonly forward?: ForwardEntry;
  /** A leaf passed to another delivery agent: its answer, which that agent already logged and recorded. */
  readonly passed?: RecipientResult;
}

export function readSettings(config: ConfigView, lockMethods: (v: string) => LockMethod[]): LocalSettings {
  const types = (name: string) =>
    config.list(name).filter((t): t is ExpansionType => t === 'alias' || t === 'forward' || t === 'include');
  return {
    aliasMaps: config.get('alias_maps'),
    forwardPath: splitOutsideBraces(config.raw('forward_path') ?? ''),
    homeMailbox: config.get('home_mailbox'),
    mailSpoolDirectory: config.get('mail_spool_directory'),
    mailboxCommand: config.raw('mailbox_command') ?? '',
    mailboxCommandMaps: config.get('mailbox_command_maps'),
    allowMailToCommands: types('allow_mail_to_commands'),
    allowMailToFiles: types('allow_mail_to_files'),
    luserRelay: config.raw('luser_relay') ?? '',
    mailboxTransport: config.get('mailbox_transport'),
    mailboxTransportMaps: config.get('mailbox_transport_maps'),
    fallbackTransport: config.get('fallback_transport'),
    fallbackTransportMaps: config.get('fallback_transport_maps'),
    recipientDelimiter: config.get('recipient_delimiter'),
    defaultPrivs: config.get('default_privs'),
    commandTimeLimit: config.time('command_time_limit'),
    commandExpansionFilter: config.raw('command_expansion_filter') ?? '',
    forwardExpansionFilter: config.raw('forward_expansion_filter') ?? '',
    localCommandShell: config.get('local_command_shell'),
    commandExecutionDirectory: config.raw('command_execution_directory') ?? '',
    expandOwnerAlias: config.bool('expand_owner_alias'),
    ownerRequestSpecial: config.bool('owner_request_special'),
    duplicateFilterLimit: config.int('duplicate_filter_limit'),
    enableOriginalRecipient: config.bool('enable_original_recipient'),
    mailboxSizeLimit: config.int('mailbox_size_limit'),
    prependDeliveredHeader: config.list('prepend_delivered_header'),
    strictMailboxOwnership: config.bool('strict_mailbox_ownership'),
    mailboxDeliveryLock: lockMethods(config.get('mailbox_delivery_lock')),
    lockAttempts: config.int('deliver_lock_attempts'),
    lockDelay: config.time('deliver_lock_delay'),
    staleLockTime: config.time('stale_lock_time'),
    exportEnvironment: config.list('export_environment'),
    myorigin: config.get('myorigin'),
    mydestination: config.list('mydestination').map((d) => d.toLowerCase()),
    queueDirectory: config.get('queue_directory'),
    doubleBounceSender: config.get('double_bounce_sender') || 'double-bounce',
  };
}
