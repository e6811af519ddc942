/**
 * local(8) - Postfix local mail delivery
 *
 * SYNOPSIS
 *   master.cf: local unix - n n - - local
 *
 * DESCRIPTION
 *   The local delivery agent delivers mail for recipients in the domains of
 *   mydestination. For each recipient it detects forwarding loops (a
 *   Delivered-To: header naming the recipient bounces with 5.4.6 "mail
 *   forwarding loop for ADDRESS"), then in order:
 *     aliases     alias_maps (aliases(5): address lists, :include:/file,
 *                 |command, /file/name, owner-NAME aliases that become the
 *                 envelope sender of list mail), key folded to lowercase,
 *                 with and without the recipient_delimiter extension;
 *     .forward    the files of forward_path, read with the user's rights;
 *     transport   mailbox_transport_maps, mailbox_transport: any recipient,
 *                 in passwd or not, is handed to that master.cf delivery
 *                 agent (transport[:nexthop]) as qmgr would; that agent
 *                 logs and records the status, local(8) passes it on; an
 *                 unreachable agent defers 4.3.0 "mail transport unavailable";
 *     mailbox     mailbox_command_maps, mailbox_command, home_mailbox or
 *                 mail_spool_directory/USER; a trailing "/" means Maildir;
 *     unknown     fallback_transport_maps, fallback_transport (as above),
 *                 luser_relay, else bounce 5.1.1 unknown user: "NAME".
 *   Local addresses in an expansion are delivered by recursion; other
 *   addresses are re-injected as one new message through cleanup(8)
 *   (origin "local", with a Delivered-To: header). Duplicate destinations in
 *   one request are suppressed (duplicate_filter_limit). Deliveries for the
 *   same user are serialised within this process.
 *
 *   The status of a queue recipient is that of its expansion: deferred when
 *   any destination deferred (the whole recipient is retried), else bounced
 *   when any bounced, else sent.
 *
 * PROTOCOL
 *   The DELIVER method of Postern's IPC on queue_directory/private/local,
 *   served by core's delivery agent skeleton (deliveryAgent()).
 *
 * CONFIGURATION PARAMETERS
 *   alias_maps (hash:/etc/aliases, nis:mail.aliases; table types Postern
 *     lacks, such as nis, are skipped with a warning)
 *   forward_path ($home/.forward${recipient_delimiter}${extension}, $home/.forward)
 *   allow_mail_to_commands (alias, forward), allow_mail_to_files (alias, forward)
 *   command_expansion_filter, forward_expansion_filter, local_command_shell (empty),
 *   command_execution_directory (empty), command_time_limit (1000s)
 *   default_privs (nobody), expand_owner_alias (no), owner_request_special (yes)
 *   duplicate_filter_limit (1000), enable_original_recipient (yes)
 *   home_mailbox (empty), mail_spool_directory (/var/mail), mailbox_command (empty),
 *   mailbox_command_maps (empty), mailbox_size_limit (51200000)
 *   mailbox_delivery_lock (fcntl, dotlock), deliver_lock_attempts (20),
 *   deliver_lock_delay (1s), stale_lock_time (500s)
 *   luser_relay (empty), recipient_delimiter (empty), export_environment
 *   prepend_delivered_header (command, file, forward), strict_mailbox_ownership (yes)
 *   local_destination_concurrency_limit (2), local_destination_recipient_limit (1) (qmgr)
 *   mailbox_transport (empty), mailbox_transport_maps (empty),
 *   fallback_transport (empty), fallback_transport_maps (empty)
 *   local_delivery_status_filter ($default_delivery_status_filter)
 *   Not implemented: biff, require_home_directory.
 *
 * SECURITY
 *   A recipient's local part never becomes part of a path or a command
 *   line: mailbox paths are built from the passwd entry's name (names with
 *   "/", "..", white space or control characters are never looked up),
 *   and commands see addresses only through filtered environment
 *   variables. As root, .forward and :include: files are read, home
 *   mailboxes written and commands and files run with the destination's
 *   uid/gid (never root: default_privs). Not as root, all of this happens
 *   as the current user. Unwritable mailboxes defer (4.2.0), full disks
 *   defer (4.3.0).
 */
import { CLEANUP, deliveryAgent, deliveryClient, serviceClients, TABLES, type DeliveryService, use, type AgentContext, type CleanupService, type ConfigView, type DeliverFunction, type DeliveryAgentOptions, type LookupTable, type Logger, type MessageSource, type DeliveryRequest, type RecipientResult, type ServiceMain, type TableRegistry } from '@postern/core';
import { deliveredToHeaders, parseLockMethods } from '@postern/mailbox';
import { deliverRecipient, recipientParts } from './local-recipient.js';
import { forwardFinish } from './local-resubmit.js';
import { DupFilter, ForwardQueue, readSettings, type LeafResult, type LocalRequest } from './local-state.js';

export interface LocalAgentDeps {
  readonly config: ConfigView;
  readonly tables: TableRegistry;
  readonly log: Logger;
  /** The cleanup service forwarded mail goes to (CLEANUP of the service's container). */
  readonly cleanup: () => CleanupService;
  /** Clients of other delivery agents (mailbox_transport, fallback_transport); absent: none reachable. */
  readonly delivery?: (transport: string) => DeliveryService;
}

/** Serialises work per key (one delivery per user at a time in this process). */
class KeyedLock {
  private readonly tails = new Map<string, Promise<void>>();
  async run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    let done!: () => void;
    const mine = new Promise<void>((r) => (done = r));
    const tail = prev.then(() => mine);
    this.tails.set(key, tail);
    await prev;
    try {
      return await work();
    } finally {
      done();
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }
}

const warnedTables = new Set<string>();

function openAliasTables(tables: TableRegistry, value: string, log: Logger): LookupTable[] {
  const out: LookupTable[] = [];
  for (const spec of value.split(/[\s,]+/).filter(Boolean)) {
    try {
      out.push(tables.open(spec));
    } catch (err) {
      if (!warnedTables.has(spec)) {
        warnedTables.add(spec);
        log.warn(`alias_maps: ${spec}: ${(err as Error).message}; skipped`);
      }
    }
  }
  return out;
}

/** Folds the leaves of one queue recipient into its result. */
export function aggregate(index: number, all: readonly LeafResult[]): RecipientResult {
  const worst = all.find((l) => l.status === 'deferred') ?? all.find((l) => l.status === 'bounced');
  // the other agent (mailbox_transport, fallback_transport) already logged and recorded its leaves
  if (worst?.passed || (all.length > 0 && all.every((l) => l.passed))) {
    const r = (worst ?? all[0]!).passed!;
    return { ...r, index, reported: true };
  }
  const leaves = all.some((l) => !l.passed) ? all.filter((l) => !l.passed) : all;
  if (leaves.length === 0) return { index, status: 'sent', dsn: '2.0.0', reason: 'delivered to mailbox (duplicate suppressed)', relay: 'local' };
  const pick = leaves.find((l) => l.status === 'deferred') ?? leaves.find((l) => l.status === 'bounced');
  if (pick) return { index, status: pick.status, dsn: pick.dsn, reason: pick.reason, relay: 'local' };
  const reasons = [...new Set(leaves.map((l) => l.reason))];
  const only = leaves.length === 1 ? leaves[0]!.address : undefined;
  return {
    index,
    status: 'sent',
    dsn: '2.0.0',
    reason: reasons.join('; '),
    relay: 'local',
    ...(leaves.length > 1 && { action: 'expanded' as const }),
    // one final address (an alias to one user): logged as to=, the alias as orig_to=
    ...(only !== undefined && { address: only }),
  };
}

/** local(8)'s delivery function (plug into core's deliveryAgent). */
export function createLocalDeliver(deps: LocalAgentDeps): DeliverFunction {
  const userLock = new KeyedLock();
  const { cleanup } = deps;
  return async (request: DeliveryRequest, message: MessageSource, agent: AgentContext) => {
    const settings = readSettings(deps.config, parseLockMethods);
    const content = await message.buffer();
    const req: LocalRequest = {
      request,
      content,
      deliveredTo: new Set(deliveredToHeaders(content).map((v) => v.replace(/^<|>$/g, '').toLowerCase())),
      settings,
      config: deps.config,
      tables: deps.tables,
      aliasTables: openAliasTables(deps.tables, settings.aliasMaps, deps.log),
      log: deps.log,
      signal: agent.signal,
      dup: new DupFilter(settings.duplicateFilterLimit),
      forwards: new ForwardQueue(),
      ...(deps.delivery && { delivery: deps.delivery }),
    };
    const leavesByIndex = new Map<number, LeafResult[]>();
    for (const rcpt of request.recipients) {
      const user = recipientParts(rcpt.address, req).user;
      const leaves = await userLock.run(user, () =>
        deliverRecipient(
          req,
          { level: 0, recipient: rcpt.address, original: rcpt.original ?? rcpt.address, sender: request.sender, delivered: rcpt.address },
          rcpt.index,
        ),
      );
      leavesByIndex.set(rcpt.index, leaves);
    }
    if (req.forwards.entries.length > 0) {
      const final = await forwardFinish(req, cleanup);
      for (const [index, leaves] of leavesByIndex) {
        leavesByIndex.set(index, leaves.map((l) => (l.forward ? final.get(l.forward) ?? l : l)));
      }
    }
    return request.recipients.map((r) => aggregate(r.index, leavesByIndex.get(r.index) ?? []));
  };
}

export const main: ServiceMain = async (ctx) => {
  const options: DeliveryAgentOptions = { relay: 'local', statusFilter: 'local_delivery_status_filter' };
  const cleanup = () => use(ctx.container, CLEANUP);
  const agents = new Map<string, DeliveryService>();
  const delivery = (transport: string): DeliveryService => {
    let c = agents.get(transport);
    if (!c) agents.set(transport, (c = deliveryClient(serviceClients(ctx.container), transport)));
    return c;
  };
  return deliveryAgent(ctx, createLocalDeliver({ config: ctx.config, tables: use(ctx.container, TABLES), log: ctx.log, cleanup, delivery }), options);
};
