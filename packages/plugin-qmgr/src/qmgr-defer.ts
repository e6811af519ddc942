/**
 * Deferral (qmgr_defer.c and the back-off of qmgr_active.c): recipients that
 * qmgr itself cannot hand to a delivery agent (dead destination, unreachable
 * transport) are logged "status=deferred" with relay=none and recorded in the
 * message's defer log, as Postfix's defer_append() does. A message with
 * deferred recipients waits in the deferred queue for as long as it has been
 * queued, at least minimal_backoff_time and at most maximal_backoff_time
 * (so the wait doubles with each attempt); after maximal_queue_lifetime
 * (bounce_queue_lifetime for the null sender) the deferred recipients are
 * returned to the sender.
 */
import {
  DELIVERY_LOG,
  reportStatus,
  type BounceService,
  type DeliveryLogRecord,
  type DeliveryRecipient,
  type QueuedMessage,
  type RecipientResult,
} from '@postern/core';
import type { ActiveMessage } from './qmgr-active.js';
import type { QmgrEnv, QmgrParams } from './qmgr-params.js';
import type { Suspension } from './qmgr-schedule.js';

/** How long a message with deferred recipients waits before the next attempt (ms). */
export function backoffDelay(params: QmgrParams, arrival: number, now: number): number {
  const age = now - arrival;
  return Math.min(params.maxBackoff, Math.max(params.minBackoff, age));
}

/** Whether `msg` has been queued longer than its lifetime. */
export function isExpired(params: QmgrParams, msg: QueuedMessage, now: number): boolean {
  const lifetime = msg.sender ? params.maxQueueLifetime : params.bounceQueueLifetime;
  return now >= msg.arrivalTime + lifetime;
}

export class QmgrDefer {
  /**
   * qmgr's own deferrals write the defer log to the queue store it holds, as
   * bounce(8)'s append would (a dead destination defers its whole backlog:
   * no round trip to bounce per recipient); notices still go to bounce.
   */
  private readonly logs: BounceService;

  constructor(private readonly env: QmgrEnv) {
    this.logs = {
      append: (log, queueId, record) => env.store.appendLog(log, queueId, record),
      notify: (kind, queueId) => env.bounce.notify(kind, queueId),
    };
  }

  /** Defers `recipients` of `am` with `why`: logs and records each, returns their outcomes. */
  defer(am: ActiveMessage, recipients: readonly DeliveryRecipient[], why: Suspension): Promise<RecipientResult[]> {
    const now = Date.now();
    const reporter = { log: this.env.log, bounce: this.logs, resolution: this.env.resolution };
    return Promise.all(
      recipients.map((recipient) =>
        reportStatus(reporter, {
          queueId: am.id,
          recipient,
          result: { index: recipient.index, status: 'deferred', dsn: why.dsn, reason: why.reason, relay: 'none' },
          times: { arrival: am.msg.arrivalTime, active: am.activeTime, agent: now, done: now },
          ...(am.msg.traceFlags !== undefined && { traceFlags: am.msg.traceFlags }),
        }),
      ),
    );
  }
}

/**
 * Turns the deferred recipients of an expired message into bounces (Postfix's
 * defer_flush): the records of this pass's defer log go to the bounce log as
 * failed, keeping their status and reason. True when every one was recorded.
 */
export async function returnExpired(env: QmgrEnv, am: ActiveMessage): Promise<boolean> {
  const { store, bounce, log } = env;
  const records = await store.readLog(DELIVERY_LOG.DEFER, am.id);
  const covered = new Set(records.map((r) => r.recipient));
  const now = Date.now();
  for (const index of am.deferredIdx) {
    const r = am.msg.recipients[index];
    if (!r || covered.has(r.address)) continue;
    covered.add(r.address);
    records.push({
      recipient: r.address,
      ...(r.original !== undefined && { original: r.original }),
      ...(r.orcpt !== undefined && { orcpt: r.orcpt }),
      ...(r.notify !== undefined && { notify: r.notify }),
      status: am.forceExpired ? '4.7.0' : '4.0.0',
      action: 'delayed',
      reason: am.forceExpired ? 'message is administratively expired' : (am.reason ?? 'message delivery time limit exceeded'),
      time: now,
    });
  }
  const appended = await Promise.all(
    records.map((r): Promise<boolean> => {
      const rec: DeliveryLogRecord = { ...r, action: 'failed', time: now };
      return bounce.append(DELIVERY_LOG.BOUNCE, am.id, rec).then(
        () => true,
        (err: Error) => {
          log.warn(`${am.id}: bounce log append for <${r.recipient}>: ${err.message}`);
          return false;
        },
      );
    }),
  );
  return appended.every(Boolean);
}
