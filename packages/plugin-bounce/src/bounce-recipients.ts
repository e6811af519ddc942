/**
 * Which delivery-log records a notice reports (RFC 3461 NOTIFY, as Postfix's
 * bounce_diagnostic_log() filters them with DSN_NOTIFY_*):
 *
 *   FAILURE, DELAY  a recipient without NOTIFY is reported (the RFC 3461
 *                   default, Postfix's "compat"); NOTIFY=NEVER never is;
 *                   otherwise only when NOTIFY names the notice.
 *   SUCCESS         only recipients that asked with NOTIFY=SUCCESS.
 *   OVERRIDE        every record (postmaster copies, sendmail -bv/-v reports).
 *
 * A log can hold several records for one recipient (a defer log gets one per
 * attempt); the latest record wins.
 */
import type { DeliveryLogRecord, DsnNotify, QueuedMessage } from '@postern/core';

export type NotifyFilter = 'FAILURE' | 'DELAY' | 'SUCCESS' | 'OVERRIDE';

/** True when `notify` (a recipient's NOTIFY list) asks for a notice of `filter`. */
export function wantsNotice(notify: readonly DsnNotify[] | undefined, filter: NotifyFilter): boolean {
  if (filter === 'OVERRIDE') return true;
  if (notify === undefined || notify.length === 0) return filter !== 'SUCCESS';
  if (notify.includes('NEVER')) return false;
  return notify.includes(filter);
}

/** One recipient's identity in a log: address, original address and ORCPT. */
export function recipientKey(r: Pick<DeliveryLogRecord, 'recipient' | 'original' | 'orcpt'>): string {
  return `${r.recipient.toLowerCase()}\0${r.original ?? ''}\0${r.orcpt ?? ''}`;
}

/** The records in log order with later records for the same recipient replacing earlier ones. */
export function latestPerRecipient(records: readonly DeliveryLogRecord[]): DeliveryLogRecord[] {
  const byKey = new Map<string, DeliveryLogRecord>();
  for (const r of records) {
    const key = recipientKey(r);
    byKey.delete(key);
    byKey.set(key, r);
  }
  return [...byKey.values()];
}

/** The records a notice with `filter` reports. */
export function selectRecipients(records: readonly DeliveryLogRecord[], filter: NotifyFilter): DeliveryLogRecord[] {
  return latestPerRecipient(records).filter((r) => wantsNotice(r.notify, filter));
}

/**
 * The defer-log records of recipients still pending (not done) in `message`:
 * what an expired message bounces (Postfix's defer_flush), merged after the
 * bounce-log records that do not already name the same recipient.
 */
export function expiredRecipients(
  message: QueuedMessage,
  bounced: readonly DeliveryLogRecord[],
  deferred: readonly DeliveryLogRecord[],
): DeliveryLogRecord[] {
  const seen = new Set(bounced.map(recipientKey));
  const pending = new Set(message.recipients.filter((r) => !r.done).map((r) => r.address.toLowerCase()));
  const out = [...bounced];
  for (const r of latestPerRecipient(deferred)) {
    const key = recipientKey(r);
    if (seen.has(key) || !pending.has(r.recipient.toLowerCase())) continue;
    out.push(r);
  }
  return out;
}
