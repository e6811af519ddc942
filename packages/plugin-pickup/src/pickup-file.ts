/**
 * One maildrop message through pickup (Postfix's pickup_file() and
 * pickup_copy()): check the record, prepend pickup's Received: header, hand
 * envelope and content to cleanup, and say what to do with the maildrop copy.
 */
import { QUEUE, type CleanupRequest, type CleanupResult, type CleanupService, type Logger, type QueueStore } from '@postern/core';
import { mailDate } from '@postern/address';
import { readMaildropRecord } from '@postern/core';

/** What became of one maildrop message. */
export type PickupOutcome =
  /** cleanup queued (or discarded) it: the maildrop copy was removed. */
  | { readonly status: 'queued'; readonly queueId: string }
  /** Malformed, or refused for good by cleanup: moved to the corrupt queue. */
  | { readonly status: 'corrupt'; readonly reason: string }
  /** cleanup could not take it now: kept in maildrop for the next scan. */
  | { readonly status: 'deferred'; readonly reason: string }
  /** Gone before we got to it (another pickup, postsuper -d). */
  | { readonly status: 'gone' };

export interface PickupFileOptions {
  readonly store: QueueStore;
  readonly cleanup: CleanupService;
  readonly log: Logger;
  readonly myhostname: string;
  readonly mailName: string;
  /**
   * soft_bounce: a permanent refusal by cleanup is treated as temporary (the
   * message stays in maildrop and is tried again), as Postfix's pickup keeps
   * the file when cleanup may not bounce it.
   */
  readonly softBounce?: boolean;
}

/**
 * Processes maildrop message `id`. The maildrop copy is deleted only after
 * cleanup has answered "queued": a crash between the two submits the message
 * again on the next scan (at most twice), never zero times.
 */
export async function pickupFile(id: string, o: PickupFileOptions): Promise<PickupOutcome> {
  const message = await o.store.get(id);
  if (!message || message.queue !== QUEUE.MAILDROP) return { status: 'gone' };
  const checked = readMaildropRecord(message);
  if (typeof checked === 'string') {
    const uid = (message as { submitter?: { uid?: unknown } }).submitter?.uid;
    o.log.warn(`uid=${typeof uid === 'number' ? uid : -1}: ${checked}`);
    await o.store.move(id, QUEUE.CORRUPT, { reason: checked });
    o.log.warn(`${id}: moved to the corrupt queue: ${checked}`);
    return { status: 'corrupt', reason: checked };
  }
  const record = checked;

  const { submitter } = record;
  let queueIdSeen: (queueId: string) => void = () => undefined;
  const queueId = new Promise<string>((resolve) => (queueIdSeen = resolve));
  let logged = false;
  const onQueueId = (qid: string): void => {
    if (logged) return;
    logged = true;
    o.log.info(`${qid}: uid=${submitter.uid} from=<${record.sender}>`);
    queueIdSeen(qid);
  };
  const store = o.store;
  async function* content(): AsyncGenerator<Buffer> {
    const qid = await queueId;
    yield Buffer.from(
      `Received: by ${o.myhostname} (${o.mailName}, from userid ${submitter.uid})\n\tid ${qid}; ${mailDate(new Date(record.arrivalTime))}\n`,
    );
    yield* store.readContent(id);
  }

  const request: CleanupRequest = {
    sender: record.sender,
    recipients: record.recipients.map((r) => ({ address: r.address, notify: r.notify, orcpt: r.orcpt })),
    dsnRet: record.dsnRet,
    dsnEnvid: record.dsnEnvid,
    origin: 'pickup',
    submitter: { user: submitter.user, fullName: submitter.fullName },
    flags: record.cleanupFlags?.extractRecipients ? { extractRecipients: true } : undefined,
    traceFlags: record.traceFlags,
    arrivalTime: record.arrivalTime,
  };
  let result: CleanupResult;
  try {
    result = await o.cleanup.submit(request, content(), onQueueId);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    o.log.warn(`${id}: cleanup service: ${reason}`);
    return { status: 'deferred', reason };
  }
  switch (result.status) {
    case 'queued':
    case 'discarded':
      await o.store.delete(id);
      return { status: 'queued', queueId: result.queueId };
    case 'tempfail':
      o.log.warn(`${id}: uid=${submitter.uid} from=<${record.sender}>: ${result.code} ${result.dsn} ${result.text}; will retry`);
      return { status: 'deferred', reason: result.text };
    default: {
      const reason = `${result.code} ${result.dsn} ${result.text}`;
      if (o.softBounce) {
        o.log.warn(`${id}: uid=${submitter.uid} from=<${record.sender}>: rejected by cleanup: ${reason}; soft_bounce: will retry`);
        return { status: 'deferred', reason };
      }
      o.log.warn(`${id}: uid=${submitter.uid} from=<${record.sender}>: rejected by cleanup: ${reason}`);
      await o.store.move(id, QUEUE.CORRUPT, { reason });
      o.log.warn(`${id}: moved to the corrupt queue: ${reason}`);
      return { status: 'corrupt', reason };
    }
  }
}
