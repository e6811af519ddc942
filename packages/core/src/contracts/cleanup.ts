import type { ClientAttrs, DsnNotify, DsnRet, SaslAttrs } from './queue.js';
import { token } from './token.js';

export interface CleanupRecipient {
  readonly address: string;
  readonly orcpt?: string;
  readonly notify?: readonly DsnNotify[];
  /** Set when re-injecting (forwarding): the original recipient to keep. */
  readonly original?: string;
}

/** cleanup_flags: what cleanup may do to this message (CLEANUP_FLAG_*). */
export interface CleanupFlags {
  /** Put the message on hold. */
  readonly hold?: boolean;
  /** Skip header_checks/body_checks (e.g. re-queued or internally generated mail). */
  readonly noHeaderBodyChecks?: boolean;
  /** Skip canonical, virtual alias and masquerading (receive_override_options). */
  readonly noAddressMappings?: boolean;
  /** Skip always_bcc and the bcc maps. */
  readonly noBccMaps?: boolean;
  /** Take recipients from To:/Cc:/Bcc: (sendmail -t). */
  readonly extractRecipients?: boolean;
}

export interface CleanupRequest {
  /**
   * The queue ID, when the client made one with newQueueId() (IDs are unique
   * per process and time, so no other process makes the same). The client
   * then knows it at once (smtpd's Received: header carries it) and sends the
   * content without waiting for cleanup to name one; cleanup reports it only
   * when it had to use another.
   */
  readonly queueId?: string;
  readonly sender: string;
  readonly recipients: readonly CleanupRecipient[];
  readonly dsnRet?: DsnRet;
  readonly dsnEnvid?: string;
  readonly client?: ClientAttrs;
  readonly sasl?: SaslAttrs;
  /** Who is handing the message in: smtpd, qmqpd, pickup, bounce, local, postsuper ... */
  readonly origin: string;
  /** Local submission: the login name and sendmail -F full name. */
  readonly submitter?: { readonly user: string; readonly fullName?: string };
  readonly bodyType?: '7BIT' | '8BITMIME' | 'BINARYMIME';
  readonly smtputf8?: boolean;
  readonly flags?: CleanupFlags;
  /** Trace/verify request (sendmail -bv / -v). */
  readonly traceFlags?: readonly ('verify' | 'record' | 'expand' | 'probe')[];
  /** Keep this arrival time (re-queue) instead of now (ms). */
  readonly arrivalTime?: number;
  /**
   * The content filter, "transport:nexthop": a FILTER action or the client's
   * content_filter (Postfix's REC_TYPE_FILT); "" for none (the re-injection
   * smtpd of FILTER_README, -o content_filter=). Absent: cleanup's content_filter.
   */
  readonly filter?: string;
  readonly redirect?: string;
}

/** cleanup's answer: what smtpd says to its client. */
export interface CleanupResult {
  /** queued: 250; rejected: 5xx; tempfail: 4xx; discarded: 250 but dropped. */
  readonly status: 'queued' | 'rejected' | 'tempfail' | 'discarded';
  readonly queueId: string;
  /** SMTP reply code to give (250, 550, 552, 451 ...). */
  readonly code: number;
  /** Enhanced status code, e.g. "2.0.0". */
  readonly dsn: string;
  readonly text: string;
  readonly held?: boolean;
}

/**
 * cleanup(8): the one way into the queue. Content is the raw message
 * (headers and body, LF or CRLF line ends); the result comes only after
 * the queue write is durable.
 */
export interface CleanupService {
  submit(
    request: CleanupRequest,
    content: AsyncIterable<Buffer>,
    onQueueId?: (queueId: string) => void,
  ): Promise<CleanupResult>;
}

export const CLEANUP = token<CleanupService>('CleanupService');
