import type { DeliveryLogName } from '../protocol/queues.js';
import type { DeliveryLogRecord } from './queue.js';
import { token } from './token.js';

/** The notices bounce(8) sends from the per-message logs. */
export type NoticeKind = 'bounce' | 'delay' | 'success' | 'verify';

export interface NoticeResult {
  /** Queue ID of the notification message, if one was queued. */
  readonly queueId?: string;
  /** Recipients the notice covered. */
  readonly count: number;
}

/**
 * bounce(8), defer(8), trace(8): per-message delivery logs and the RFC 3464
 * notifications made from them.
 */
export interface BounceService {
  append(log: DeliveryLogName, queueId: string, record: DeliveryLogRecord): Promise<void>;
  /**
   * Sends the notice of `kind` for message `queueId` (read from the queue) to its
   * sender, or to the postmaster as a double bounce when the sender is null.
   */
  notify(kind: NoticeKind, queueId: string): Promise<NoticeResult>;
}

export const BOUNCE = token<BounceService>('BounceService');
