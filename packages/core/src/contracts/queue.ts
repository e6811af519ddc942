import type { QueueName, DeliveryLogName } from '../protocol/queues.js';
import { token } from './token.js';

/** DSN NOTIFY keywords (RFC 3461). */
export type DsnNotify = 'NEVER' | 'SUCCESS' | 'FAILURE' | 'DELAY';
/** DSN RET (RFC 3461). */
export type DsnRet = 'FULL' | 'HDRS';

/** The client that handed the message in (smtpd's, qmqpd's or the local submitter's). */
export interface ClientAttrs {
  /** Verified client hostname, or "unknown". */
  readonly name?: string;
  readonly address?: string;
  readonly port?: number;
  readonly helo?: string;
  /** SMTP, ESMTP, ESMTPS, ESMTPSA, QMQP, LOCAL, ... */
  readonly protocol?: string;
  /** The log form "name[address]". */
  readonly log?: string;
}

export interface SaslAttrs {
  readonly method?: string;
  readonly username?: string;
  readonly sender?: string;
}

export interface Recipient {
  /** The (rewritten) recipient address. */
  readonly address: string;
  /** The address as the client gave it, before any rewriting or alias expansion. */
  readonly original?: string;
  /** DSN ORCPT (RFC 3461), as "rfc822;user@example.com". */
  readonly orcpt?: string;
  readonly notify?: readonly DsnNotify[];
  /** Delivered, bounced or otherwise finished: never delivered again. */
  readonly done?: boolean;
}

/** What cleanup writes and the delivery path reads: plain data. */
export interface Envelope {
  readonly sender: string;
  readonly recipients: readonly Recipient[];
  /** Milliseconds since the epoch. */
  readonly arrivalTime: number;
  readonly dsnRet?: DsnRet;
  readonly dsnEnvid?: string;
  readonly client?: ClientAttrs;
  readonly sasl?: SaslAttrs;
  /** The BODY= of MAIL FROM, when given. */
  readonly bodyType?: '7BIT' | '8BITMIME' | 'BINARYMIME';
  readonly smtputf8?: boolean;
  /** Content filter from FILTER actions or content_filter ("transport:nexthop"). */
  readonly filter?: string;
  /** REDIRECT target from header/body checks or access maps. */
  readonly redirect?: string;
  /** Where the message came from, for the log: smtpd, qmqpd, pickup, bounce, local, ... */
  readonly origin?: string;
  /** Mail-forwarding hop count (Received:/Delivered-To: headers seen). */
  readonly hops?: number;
  /** Message-ID header value, for the qmgr log line. */
  readonly messageId?: string;
  /** Verify/trace requests (sendmail -bv, -v): DEL_REQ_FLAG_RECORD / _MTA_VRFY / _USR_VRFY. */
  readonly traceFlags?: readonly ('verify' | 'record' | 'expand' | 'probe')[];
  /** Local submission (maildrop): who ran sendmail, for pickup's Received: and From:. */
  readonly submitter?: { readonly user: string; readonly uid?: number; readonly fullName?: string };
  /** Local submission: what cleanup must do when pickup hands the message over (sendmail -t). */
  readonly cleanupFlags?: { readonly extractRecipients?: boolean };
}

/** A message in the queue: its envelope and its scheduling state. */
export interface QueuedMessage extends Envelope {
  readonly id: string;
  readonly queue: QueueName;
  /** Size of the content in bytes. */
  readonly size: number;
  /** Milliseconds since the epoch: when to try again (deferred). */
  readonly nextAttempt?: number;
  /** The last deferral reason, as mailq shows it. */
  readonly reason?: string;
  /** When a delay warning was sent (ms), if one was. */
  readonly warned?: number;
  /** Delivery attempts so far. */
  readonly attempts?: number;
  /**
   * postsuper -e / -f: when the message was force-expired (ms). qmgr returns
   * it to the sender the next time it takes it (Postfix's MAIL_QUEUE_STAT_EXPIRE).
   */
  readonly expired?: number;
}

/** The scheduling state move() may update with a message. */
export interface QueueStateChange {
  readonly nextAttempt?: number;
  readonly reason?: string;
  readonly warned?: number;
  readonly attempts?: number;
  readonly expired?: number;
}

/** Streams one message's content into the queue; nothing is visible until commit. */
export interface QueueWriter {
  /** The queue ID the message will have, known before commit (Postfix logs it at MAIL FROM). */
  readonly id: string;
  /** Content bytes so far. */
  readonly size: number;
  write(chunk: Buffer): void;
  /** Durable on disk when the promise resolves: only then may a client be told 250. */
  commit(envelope: Envelope, queue?: QueueName): Promise<QueuedMessage>;
  abort(): void;
}

export interface RecipientUpdate {
  /** Position of the recipient in the envelope. */
  readonly index: number;
  readonly done?: boolean;
}

export interface ScanOptions {
  /** Only messages whose nextAttempt is at or before this time (ms). */
  readonly dueBy?: number;
  /** Resume after this queue ID (in scan order). */
  readonly after?: string;
  readonly limit?: number;
}

/** One line of a per-message delivery log (bounce, defer, trace). */
export interface DeliveryLogRecord {
  readonly recipient: string;
  readonly original?: string;
  readonly orcpt?: string;
  readonly notify?: readonly DsnNotify[];
  /** RFC 3463 status, e.g. "5.1.1". */
  readonly status: string;
  /** RFC 3464 action: delivered, relayed, expanded, failed, delayed. */
  readonly action: string;
  /** Diagnostic-Code, e.g. "smtp; 550 5.1.1 no such user". */
  readonly diagnostic?: string;
  readonly remoteMta?: string;
  /** The reason text as logged after status=. */
  readonly reason: string;
  readonly relay?: string;
  /** ms since the epoch. */
  readonly time: number;
}

/**
 * The queue store: Postfix's queue directories as a contract. The embedded
 * backend is LMDB under queue_directory; any backend must make commit durable
 * before it resolves and keep every operation atomic across processes.
 */
export interface QueueStore {
  /**
   * A writer for a new message. `queueId`: an ID the caller made with
   * newQueueId() (unique per process and time); commit fails if it exists.
   */
  createWriter(options?: { readonly queueId?: string }): QueueWriter;
  get(id: string): Promise<QueuedMessage | undefined>;
  /** The content, streamed in chunks. */
  readContent(id: string): AsyncIterable<Buffer>;
  /** Moves a message to another queue, optionally updating scheduling state. */
  move(
    id: string,
    to: QueueName,
    state?: QueueStateChange,
  ): Promise<QueuedMessage | undefined>;
  /** Marks recipients done (or not); returns the updated message. */
  updateRecipients(id: string, updates: readonly RecipientUpdate[]): Promise<QueuedMessage | undefined>;
  /** Deletes the message, its content and its delivery logs. */
  delete(id: string): Promise<boolean>;
  /** Messages in a queue in scan order: arrival for most queues, next attempt for deferred. */
  scan(queue: QueueName, options?: ScanOptions): AsyncIterable<QueuedMessage>;
  count(queue: QueueName): Promise<number>;
  /** Appends to a per-message delivery log (bounce, defer, trace). */
  appendLog(log: DeliveryLogName, id: string, record: DeliveryLogRecord): Promise<void>;
  readLog(log: DeliveryLogName, id: string): Promise<DeliveryLogRecord[]>;
  deleteLog(log: DeliveryLogName, id: string): Promise<void>;
  /** postsuper -s: reports structural problems without changing anything (backends that can). */
  check?(): Promise<QueueCheckReport>;
  /** postsuper -s: repairs what check() finds. */
  repair?(): Promise<QueueCheckReport>;
  /**
   * Backends shared by several nodes: calls `listener` when messages became
   * ready that no local trigger announced (returned from a dead node's active
   * queue, or left in incoming by a node that died); the queue manager then
   * scans incoming. Returns an unsubscribe function. A local backend has none.
   */
  onForeignWork?(listener: () => void): () => void;
  close(): Promise<void>;
}

export const QUEUE_STORE = token<QueueStore>('QueueStore');


/** postsuper -s: what a backend's structure check found. */
export type QueueProblemKind =
  | 'index-without-message'
  | 'message-without-index'
  | 'missing-content'
  | 'orphan-content'
  | 'orphan-log';

export interface QueueProblem {
  readonly kind: QueueProblemKind;
  readonly id: string;
  readonly queue?: QueueName;
  readonly detail: string;
}

export interface QueueCheckReport {
  /** Messages examined. */
  readonly messages: number;
  readonly problems: readonly QueueProblem[];
  /** Problems fixed (repair only; a problem that went away by itself is not counted). */
  readonly repaired: number;
}
