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
