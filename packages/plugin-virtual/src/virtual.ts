/**
 * virtual(8) - Postfix virtual domain mail delivery agent
 *
 * SYNOPSIS
 *   master.cf: virtual unix - n n - - virtual
 *
 * DESCRIPTION
 *   The virtual delivery agent delivers mail for the domains of
 *   virtual_mailbox_domains into mailboxes found through
 *   virtual_mailbox_maps, under virtual_mailbox_base. There are no
 *   aliases, .forward files, commands or files here.
 *
 *   For each recipient (folded to lowercase for lookups):
 *     1. a Delivered-To: header naming it bounces: 5.4.6 "mail forwarding
 *        loop for ADDRESS";
 *     2. virtual_mailbox_maps is searched in mail_addr_find order (user+ext@
 *        domain, user@domain, @domain); no entry bounces: 5.1.1 unknown
 *        user: "ADDRESS";
 *     3. virtual_uid_maps and virtual_gid_maps give the owner (static:N
 *        works); a missing or bad uid/gid, or a uid below
 *        virtual_minimum_uid, defers with 4.3.5 "mail system configuration
 *        error";
 *     4. $virtual_mailbox_base/RESULT is an mbox file, or a Maildir when
 *        RESULT ends in "/". mbox gets the From_ line, Return-Path:,
 *        X-Original-To:, Delivered-To:, From_ quoting and a trailing empty
 *        line under virtual_mailbox_lock, truncated back on failure, limited
 *        by virtual_mailbox_limit (0: none). Maildir gets Return-Path:,
 *        X-Original-To: and Delivered-To: and the tmp-then-new protocol.
 *
 * PROTOCOL
 *   The DELIVER method of Postern's IPC on queue_directory/private/virtual,
 *   served by core's delivery agent skeleton (deliveryAgent()).
 *
 * CONFIGURATION PARAMETERS
 *   virtual_mailbox_base (empty), virtual_mailbox_maps (empty),
 *   virtual_mailbox_domains ($virtual_mailbox_maps, used by trivial-rewrite),
 *   virtual_uid_maps (empty), virtual_gid_maps (empty), virtual_minimum_uid (100),
 *   virtual_mailbox_limit (51200000), virtual_mailbox_lock (fcntl, dotlock),
 *   deliver_lock_attempts (20), deliver_lock_delay (1s), stale_lock_time (500s),
 *   enable_original_recipient (yes), recipient_delimiter,
 *   virtual_destination_recipient_limit, virtual_destination_concurrency_limit (qmgr),
 *   virtual_delivery_status_filter ($default_delivery_status_filter)
 *
 * SECURITY
 *   Mailbox paths come from virtual_mailbox_maps (administrator data); a
 *   result with a ".." component, or that is absolute, is refused (4.3.5).
 *   As root, the mailbox is written by a child process running with the
 *   mailbox's uid/gid (core's mailbox worker); not as root, as the current
 *   user. Unwritable mailboxes defer (4.2.0), full disks defer (4.3.0).
 */
import { join } from 'node:path';
import { deliveredToHeaders, deliverMailbox, parseLockMethods } from '@postern/mailbox';
import { isTraceOnly, deliveryAgent, TABLES, use, type AgentContext, type ConfigView, type DeliverFunction, type DeliveryRecipient, type DeliveryRequest, type Logger, type LookupTable, type MessageSource, type RecipientResult, type ServiceMain, type TableRegistry } from '@postern/core';
import { mailAddrFind } from '@postern/address';

export interface VirtualDeps {
  readonly config: ConfigView;
  readonly tables: TableRegistry;
  readonly log: Logger;
}

function openMaps(tables: TableRegistry, value: string): LookupTable[] {
  return value.trim() === '' ? [] : tables.openList(value);
}

/** A mailbox path below the base: relative, no ".." component. */
export function safeMailboxPath(base: string, result: string): string | undefined {
  const r = result.trim();
  if (r === '' || r.startsWith('/') || r.split('/').some((c) => c === '..')) return undefined;
  if (/[\x00-\x1f\x7f]/.test(r)) return undefined;
  const path = join(base, r);
  return r.endsWith('/') && !path.endsWith('/') ? `${path}/` : path;
}

async function deliverOne(
  deps: VirtualDeps,
  request: DeliveryRequest,
  rcpt: DeliveryRecipient,
  content: Buffer,
  seen: ReadonlySet<string>,
  agent: AgentContext,
): Promise<Omit<RecipientResult, 'index'>> {
  const c = deps.config;
  const address = rcpt.address.toLowerCase();
  if (seen.has(address)) return { status: 'bounced', dsn: '5.4.6', reason: `mail forwarding loop for ${rcpt.address}` };
  const opts = { recipientDelimiter: c.get('recipient_delimiter') };
  const found = await mailAddrFind(openMaps(deps.tables, c.get('virtual_mailbox_maps')), address, opts);
  if (!found) return { status: 'bounced', dsn: '5.1.1', reason: `unknown user: "${address}"` };
  const configError = (why: string) => {
    deps.log.warn(`recipient ${address}: ${why}`);
    return { status: 'deferred' as const, dsn: '4.3.5', reason: 'mail system configuration error' };
  };
  const path = safeMailboxPath(c.get('virtual_mailbox_base'), found.value);
  if (!path) return configError(`bad mailbox path "${found.value}" in ${found.table.spec}`);
  const uidHit = await mailAddrFind(openMaps(deps.tables, c.get('virtual_uid_maps')), address, opts);
  if (!uidHit) return configError('no uid in virtual_uid_maps');
  const uid = Number(uidHit.value.trim());
  if (!Number.isInteger(uid) || uid < 0) return configError(`bad uid ${uidHit.value} in ${uidHit.table.spec}`);
  const minimum = c.int('virtual_minimum_uid');
  if (uid < minimum) return configError(`uid ${uid} in ${uidHit.table.spec} is below virtual_minimum_uid (${minimum})`);
  const gidHit = await mailAddrFind(openMaps(deps.tables, c.get('virtual_gid_maps')), address, opts);
  if (!gidHit) return configError('no gid in virtual_gid_maps');
  const gid = Number(gidHit.value.trim());
  if (!Number.isInteger(gid) || gid <= 0) return configError(`bad gid ${gidHit.value} in ${gidHit.table.spec}`);

  const maildir = path.endsWith('/');
  // sendmail -bv and verify(8) probes: say what would happen (DEL_REQ_TRACE_ONLY)
  if (isTraceOnly(request)) return { status: 'sent', dsn: '2.0.0', reason: `delivers to ${maildir ? 'maildir' : 'mailbox'}` };
  const r = await deliverMailbox(
    path,
    [content],
    {
      ...(!maildir && { from: request.sender, quoteFrom: true, blank: true }),
      returnPath: request.sender,
      ...(c.bool('enable_original_recipient') && { originalRecipient: rcpt.original ?? rcpt.address }),
      deliveredTo: rcpt.address,
    },
    {
      lock: parseLockMethods(c.get('virtual_mailbox_lock')),
      lockAttempts: c.int('deliver_lock_attempts'),
      lockDelay: c.time('deliver_lock_delay'),
      staleLockTime: c.time('stale_lock_time'),
      sizeLimit: c.int('virtual_mailbox_limit'),
      owner: { uid, gid },
      runAs: { uid, gid },
      signal: agent.signal,
    },
  );
  return r;
}

/** virtual(8)'s delivery function (plug into core's deliveryAgent). */
export function createVirtualDeliver(deps: VirtualDeps): DeliverFunction {
  return async (request: DeliveryRequest, message: MessageSource, agent: AgentContext) => {
    const content = await message.buffer();
    const seen = new Set(deliveredToHeaders(content).map((v) => v.replace(/^<|>$/g, '').toLowerCase()));
    const out: RecipientResult[] = [];
    for (const rcpt of request.recipients) {
      const r = await deliverOne(deps, request, rcpt, content, seen, agent);
      out.push({ index: rcpt.index, ...r, relay: 'virtual' });
    }
    return out;
  };
}

export const main: ServiceMain = async (ctx) =>
  deliveryAgent(ctx, createVirtualDeliver({ config: ctx.config, tables: use(ctx.container, TABLES), log: ctx.log }), {
    relay: 'virtual',
    statusFilter: 'virtual_delivery_status_filter',
  });
