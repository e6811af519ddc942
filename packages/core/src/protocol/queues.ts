/** Postfix's queue names (mail_queue.h). */
export const QUEUE = {
  MAILDROP: 'maildrop',
  INCOMING: 'incoming',
  ACTIVE: 'active',
  DEFERRED: 'deferred',
  HOLD: 'hold',
  CORRUPT: 'corrupt',
} as const;
export type QueueName = (typeof QUEUE)[keyof typeof QUEUE];
export const QUEUE_NAMES: readonly QueueName[] = Object.values(QUEUE);

export function isQueueName(name: string): name is QueueName {
  return (QUEUE_NAMES as readonly string[]).includes(name);
}

/** Per-message delivery logs kept beside the queue (bounce, defer, trace). */
export const DELIVERY_LOG = { BOUNCE: 'bounce', DEFER: 'defer', TRACE: 'trace' } as const;
export type DeliveryLogName = (typeof DELIVERY_LOG)[keyof typeof DELIVERY_LOG];

/**
 * A queue backend that keeps the space of removed mail inside its own files
 * (LMDB's free pages) writes, in this file under queue_directory, how many
 * bytes of them new mail can reuse (a decimal number). smtpd's queue space
 * check counts them as free: the file system alone would say the disk stays
 * full after the queue has drained. In private/, which mail_owner owns (the
 * queue directory itself may be root's).
 */
export const QUEUE_RECLAIMABLE_FILE = 'private/queue.reclaimable';
