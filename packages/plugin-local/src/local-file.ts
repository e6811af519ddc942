/**
 * deliver_file(): "/file/name" destinations from aliases, .forward and
 * :include: files. allow_mail_to_files (alias, forward, include) decides
 * which expansions may name files; others bounce with 5.7.1 "mail to file
 * is restricted". A name ending in "/" is a Maildir. An mbox file gets a
 * From_ line, Return-Path:, X-Original-To:, Delivered-To: (when
 * prepend_delivered_header has "file"), From_ quoting and a trailing empty
 * line; it is locked with the kernel locks of mailbox_delivery_lock (no
 * dotlock: the directory need not be writable) and truncated back on
 * failure. /dev/null accepts everything. The file is opened with the
 * destination's privileges (root becomes default_privs) when running as
 * root, otherwise as the current user.
 */
import { deliverMailbox } from '@postern/mailbox';
import { isTraceOnly } from '@postern/core';
import { defaultPrivs, unprivileged } from './local-passwd.js';
import type { DeliverAttr, LeafResult, LocalRequest, Privileges } from './local-state.js';

export async function deliverFileToken(req: LocalRequest, attr: DeliverAttr, path: string): Promise<LeafResult> {
  if (!attr.expType || !req.settings.allowMailToFiles.includes(attr.expType)) {
    return { status: 'bounced', dsn: '5.7.1', reason: 'mail to file is restricted', address: attr.recipient };
  }
  if (isTraceOnly(req.request)) return { status: 'sent', dsn: '2.0.0', reason: `delivers to file: ${path}`, address: attr.recipient };
  if (path === '/dev/null') return { status: 'sent', dsn: '2.0.0', reason: 'delivered to file: /dev/null', address: attr.recipient };
  let privs: Privileges;
  try {
    privs = await unprivileged(req.tables, attr.privs ?? (await defaultPrivs(req.tables, req.settings.defaultPrivs)), req.settings.defaultPrivs);
  } catch (err) {
    return { status: 'deferred', dsn: '4.3.5', reason: (err as Error).message, address: attr.recipient };
  }
  if (req.dup.check(`file ${path}`)) return { status: 'sent', dsn: '2.0.0', reason: `delivered to file: ${path}`, address: attr.recipient };
  const maildir = path.endsWith('/');
  const s = req.settings;
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
      kind: 'file',
      lock: s.mailboxDeliveryLock.filter((m) => m !== 'dotlock'),
      lockAttempts: s.lockAttempts,
      lockDelay: s.lockDelay,
      staleLockTime: s.staleLockTime,
      sizeLimit: s.mailboxSizeLimit,
      runAs: { uid: privs.uid, gid: privs.gid },
      signal: req.signal,
    },
  );
  return { ...r, address: attr.recipient };
}
