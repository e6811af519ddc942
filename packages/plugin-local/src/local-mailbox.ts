/**
 * deliver_mailbox(): the user's own mailbox.
 *
 *   mailbox_command_maps  per-user command (looked up by user name)
 *   mailbox_command       command line, $name-expanded with the recipient's
 *                         attributes through command_expansion_filter
 *   home_mailbox          mailbox relative to the home directory ("Maildir/"
 *                         with a trailing "/" is a Maildir)
 *   mail_spool_directory  otherwise $mail_spool_directory/USER (USER is the
 *                         passwd entry's name, never the recipient's text)
 *
 * Commands run with the user's privileges (default_privs for root), with
 * the environment described in local-command.ts. An mbox gets the From_
 * line, Return-Path:, X-Original-To:, Delivered-To: (prepend_delivered_header
 * "file"), From_ quoting and a trailing empty line, under the locks of
 * mailbox_delivery_lock, truncated back on failure, limited by
 * mailbox_size_limit. A Maildir gets Return-Path:, X-Original-To: and
 * Delivered-To:.
 *
 * Privileges: a spool mailbox is created and locked as this process (root:
 * handed to the user, mode 0600; strict_mailbox_ownership defers when an
 * existing one belongs to someone else). Its group is the user's, except
 * in a spool directory that is group- but not world-writable (Debian's
 * /var/mail, 2775 root:mail), where it is the directory's group as
 * Postfix's deliver_mailbox_file() gives it. A home mailbox is written with the
 * user's uid/gid when this process is root (core's mailbox worker process),
 * else as the current user.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { deliverMailbox } from '@postern/mailbox';
import { isTraceOnly } from '@postern/core';
import { runLocalCommand } from './local-command.js';
import { localExpand } from './local-expand.js';
import { expansionAttrs } from './local-forward.js';
import { privsOf, unprivileged } from './local-passwd.js';
import type { RecipientParts } from './local-recipient.js';
import type { DeliverAttr, LeafResult, LocalRequest, PasswdEntry } from './local-state.js';

async function mailboxCommandFor(req: LocalRequest, pw: PasswdEntry): Promise<string | undefined> {
  if (req.settings.mailboxCommandMaps.trim() !== '') {
    for (const table of req.tables.openList(req.settings.mailboxCommandMaps)) {
      const v = await table.lookup(pw.name);
      if (v !== undefined) return v;
    }
  }
  return req.settings.mailboxCommand.trim() !== '' ? req.settings.mailboxCommand : undefined;
}

/** The group of a new spool mailbox: the spool directory's when that is group- but not world-writable. */
export async function spoolGroup(spool: string, userGid: number): Promise<number> {
  try {
    const st = await stat(spool);
    return (st.mode & 0o002) === 0 && (st.mode & 0o020) !== 0 ? st.gid : userGid;
  } catch {
    return userGid;
  }
}

export async function deliverMailboxFor(req: LocalRequest, attr: DeliverAttr, parts: RecipientParts, pw: PasswdEntry): Promise<LeafResult> {
  const s = req.settings;
  if (req.dup.check(`mailbox ${pw.name}`)) return { status: 'sent', dsn: '2.0.0', reason: 'delivered to mailbox', address: attr.recipient };
  // sendmail -bv and verify(8) probes: say what would happen (DEL_REQ_TRACE_ONLY)
  if (isTraceOnly(req.request)) return { status: 'sent', dsn: '2.0.0', reason: 'delivers to mailbox', address: attr.recipient };

  const command = await mailboxCommandFor(req, pw);
  if (command !== undefined) {
    const expanded = localExpand(command, expansionAttrs(attr, parts, pw, req), s.commandExpansionFilter).text;
    let privs;
    try {
      privs = await unprivileged(req.tables, privsOf(pw), s.defaultPrivs);
    } catch (err) {
      return { status: 'deferred', dsn: '4.3.5', reason: (err as Error).message, address: attr.recipient };
    }
    const r = await runLocalCommand(req, { ...attr, expType: undefined }, expanded, privs, pw.name);
    return r;
  }

  const inHome = s.homeMailbox.trim() !== '';
  const relative = s.homeMailbox.trim();
  let path = inHome ? join(pw.home, relative) : join(s.mailSpoolDirectory, pw.name);
  // a trailing / on home_mailbox or mail_spool_directory means Maildir (local(8))
  const trailing = inHome ? relative.endsWith('/') : s.mailSpoolDirectory.trim().endsWith('/');
  if (trailing && !path.endsWith('/')) path += '/';
  const maildir = path.endsWith('/');
  const r = await deliverMailbox(
    path,
    [req.content],
    {
      ...(!maildir && { from: attr.sender, quoteFrom: true, blank: true }),
      returnPath: attr.sender,
      ...(s.enableOriginalRecipient && { originalRecipient: attr.original }),
      ...(s.prependDeliveredHeader.includes('file') && { deliveredTo: attr.delivered }),
    },
    {
      lock: s.mailboxDeliveryLock,
      lockAttempts: s.lockAttempts,
      lockDelay: s.lockDelay,
      staleLockTime: s.staleLockTime,
      sizeLimit: s.mailboxSizeLimit,
      owner: { uid: pw.uid, gid: inHome ? pw.gid : await spoolGroup(s.mailSpoolDirectory, pw.gid) },
      ...(s.strictMailboxOwnership && !inHome && { requireOwner: pw.uid }),
      ...(inHome && { runAs: { uid: pw.uid, gid: pw.gid } }),
      signal: req.signal,
    },
  );
  return { ...r, address: attr.recipient };
}
