/**
 * The maildrop record: what postdrop (the sendmail command's last step)
 * commits into the maildrop queue and what pickup(8) reads back. Postfix
 * keeps it as a queue file of records (time, full name, sender, recipients,
 * content, extracted-section flags); here it is one queue-store message whose
 * envelope carries the same information as plain data, plus the content.
 *
 * The envelope is a core Envelope with three more members, all plain data:
 * `submitter` (login name, uid, -F full name), `cleanupFlags` (sendmail -t)
 * and `origin` = "sendmail". The queue store keeps a message's envelope as
 * written, so pickup reads them back; `readMaildropRecord()` checks them,
 * because the maildrop queue is written by local users (Postfix's pickup
 * treats every maildrop file as untrusted input).
 */
import type { DsnNotify, Envelope, QueuedMessage, QueueStore, QueueWriter } from '../contracts/queue.js';
import { QUEUE } from '../protocol/queues.js';

/** The local user who ran sendmail. */
export interface MaildropSubmitter {
  /** Login name. */
  readonly user: string;
  readonly uid: number;
  /** sendmail -F, or $NAME. */
  readonly fullName?: string;
}

/** What postdrop stores for one message. */
export interface MaildropRecord extends Envelope {
  readonly origin: typeof MAILDROP_ORIGIN;
  readonly submitter: MaildropSubmitter;
  /** sendmail -t: take recipients from To:, Cc:, Bcc: (or their Resent- forms). */
  readonly cleanupFlags?: { readonly extractRecipients?: boolean };
}

export const MAILDROP_ORIGIN = 'sendmail';

const NOTIFY: readonly DsnNotify[] = ['NEVER', 'SUCCESS', 'FAILURE', 'DELAY'];
const TRACE = ['verify', 'record', 'expand'];

/**
 * Commits one message into the maildrop queue (postdrop(1)): `content` is
 * the raw message, LF line ends. Resolves once the message is durable.
 * `onQueueId` hears the maildrop queue ID before the content is read.
 */
export async function postdrop(
  store: QueueStore,
  record: Omit<MaildropRecord, 'origin' | 'arrivalTime'> & { arrivalTime?: number },
  content: Iterable<Buffer> | AsyncIterable<Buffer>,
  onQueueId?: (id: string) => void,
): Promise<QueuedMessage> {
  const writer: QueueWriter = store.createWriter();
  try {
    onQueueId?.(writer.id);
    for await (const chunk of content) writer.write(chunk);
    const full: MaildropRecord = { ...record, origin: MAILDROP_ORIGIN, arrivalTime: record.arrivalTime ?? Date.now() };
    return await writer.commit(full, QUEUE.MAILDROP);
  } catch (err) {
    writer.abort();
    throw err;
  }
}

/**
 * The maildrop record of a queued message, or the reason it is malformed
 * (a string, for pickup's warning: the message then goes to the corrupt queue).
 */
export function readMaildropRecord(message: QueuedMessage): MaildropRecord | string {
  const m = message as QueuedMessage & Partial<Pick<MaildropRecord, 'submitter' | 'cleanupFlags'>>;
  const s = m.submitter;
  if (m.origin !== MAILDROP_ORIGIN) return `unexpected origin "${String(m.origin)}"`;
  if (!s || typeof s !== 'object') return 'no submitter record';
  if (typeof s.user !== 'string' || !Number.isInteger(s.uid) || s.uid < 0) return 'malformed submitter record';
  if (s.fullName !== undefined && typeof s.fullName !== 'string') return 'malformed full name record';
  if (typeof m.sender !== 'string') return 'no envelope sender';
  if (/[\r\n\0]/.test(m.sender)) return 'malformed sender record';
  if (!Array.isArray(m.recipients)) return 'malformed recipient list';
  for (const r of m.recipients) {
    if (!r || typeof r.address !== 'string' || /[\r\n\0]/.test(r.address) || r.address === '') return 'malformed recipient record';
    if (r.notify !== undefined && (!Array.isArray(r.notify) || !(r.notify as unknown[]).every((n) => NOTIFY.includes(n as DsnNotify)))) return 'malformed notify record';
    if (r.orcpt !== undefined && typeof r.orcpt !== 'string') return 'malformed orcpt record';
  }
  if (m.dsnRet !== undefined && m.dsnRet !== 'FULL' && m.dsnRet !== 'HDRS') return 'malformed DSN RET record';
  if (m.dsnEnvid !== undefined && (typeof m.dsnEnvid !== 'string' || /[\r\n\0]/.test(m.dsnEnvid))) return 'malformed DSN ENVID record';
  if (m.traceFlags !== undefined && (!Array.isArray(m.traceFlags) || !m.traceFlags.every((f) => TRACE.includes(f)))) return 'malformed trace flags';
  const extract = m.cleanupFlags?.extractRecipients;
  if (m.cleanupFlags !== undefined && (typeof m.cleanupFlags !== 'object' || (extract !== undefined && typeof extract !== 'boolean'))) {
    return 'malformed flags record';
  }
  if (m.recipients.length === 0 && !extract) return 'no recipients and no -t';
  return m as MaildropRecord;
}
