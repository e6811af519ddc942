/**
 * Per-recipient status reporting (Postfix's sent(), bounce_append(),
 * defer_append(), trace_append() and verify_append()): logs the recipient's
 * delivery line and appends a record to the message's delivery log through
 * the bounce service: bounced to the bounce log, deferred to the defer log,
 * sent with NOTIFY=SUCCESS (or any status of a traced or verify request) to
 * the trace log. qmgr reads those logs when the message is done and asks
 * bounce(8) for the notices. The agent's delivery status filter
 * (delivery-status-filter.ts) rewrites the status first, once, as Postfix's
 * sent()/bounce_append()/defer_append() do before anything else.
 */
import type { VerifyService } from '../contracts/verify.js';
import type { FlushService } from '../contracts/flush.js';
import type { BounceService } from '../contracts/bounce.js';
import type { DeliveryRecipient, DeliveryRequest, RecipientResult } from '../contracts/delivery.js';
import type { DeliveryLogRecord } from '../contracts/queue.js';
import type { Logger } from '../contracts/logger.js';
import { DELIVERY_LOG, type DeliveryLogName } from '../protocol/queues.js';
import { DELAY_RESOLUTION_DEFAULT, formatDeliveryLine, type DeliveryTimes } from './delivery-log.js';
import { filterDeliveryStatus, type DeliveryStatusFilter } from './delivery-status-filter.js';

/** The reason Postfix gives when the bounce or trace service cannot take a record. */
export const BOUNCE_FAILURE_REASON = 'bounce or trace service failure';

export interface StatusReport {
  readonly queueId: string;
  readonly recipient: DeliveryRecipient;
  readonly result: RecipientResult;
  readonly times: DeliveryTimes;
  /** relay= when the result names none. */
  readonly relay?: string;
  readonly traceFlags?: DeliveryRequest['traceFlags'];
}

export interface StatusReporter {
  readonly log: Logger;
  readonly bounce: BounceService;
  /** flush(8): deferred mail is added to its destination's fast flush log (Postfix's defer_append does). */
  readonly flush?: FlushService;
  /** delay_logging_resolution_limit. */
  readonly resolution?: number;
  /** verify(8): address verification probes report their outcome to it (verify_append). */
  readonly verify?: VerifyService;
  /** soft_bounce: a bounce is deferred instead (4.X.X, action delayed), as Postfix's bounce_append() does. */
  readonly softBounce?: boolean;
  /** <agent>_delivery_status_filter: replaces the status code and text before anything is logged or recorded. */
  readonly statusFilter?: DeliveryStatusFilter | undefined;
}

const DEFAULT_ACTION = { sent: 'delivered', bounced: 'failed', deferred: 'delayed' } as const;

/**
 * Logs and records one recipient's outcome, after the delivery status
 * filter. Returns the outcome as it stands afterwards: what the filter made
 * of it, and a bounce the bounce service could not record becomes a
 * deferral (Postfix does the same, so no recipient is lost).
 */
export async function reportStatus(reporter: StatusReporter, report: StatusReport): Promise<RecipientResult> {
  if (!reporter.statusFilter) return recordStatus(reporter, report);
  const result = await filterDeliveryStatus(reporter.statusFilter, report.result, reporter.log);
  return recordStatus(reporter, result === report.result ? report : { ...report, result });
}

/** reportStatus() after the filter (Postfix's *_append_intern()): soft_bounce and the fallbacks come here, unfiltered. */
async function recordStatus(reporter: StatusReporter, report: StatusReport): Promise<RecipientResult> {
  const { result, recipient } = report;
  const verify = report.traceFlags?.includes('verify') ?? false;
  const record = report.traceFlags?.includes('record') ?? false;
  const relay = result.relay ?? report.relay ?? 'none';
  const time = report.times.done ?? Date.now();
  const entry = (action: string, r: RecipientResult = result): DeliveryLogRecord => ({
    recipient: recipient.address,
    ...(recipient.original !== undefined && { original: recipient.original }),
    ...(recipient.orcpt !== undefined && { orcpt: recipient.orcpt }),
    ...(recipient.notify !== undefined && { notify: recipient.notify }),
    status: r.dsn,
    action,
    ...(r.diagnostic !== undefined && { diagnostic: r.diagnostic }),
    ...(r.remoteMta !== undefined && { remoteMta: r.remoteMta }),
    reason: r.reason,
    relay,
    time,
  });
  const line = (status: string, r: RecipientResult = result) =>
    reporter.log.info(
      formatDeliveryLine(
        {
          queueId: report.queueId,
          recipient: r.address ?? recipient.address,
          ...(r.address !== undefined
            ? { original: recipient.original ?? recipient.address }
            : recipient.original !== undefined && { original: recipient.original }),
          relay,
          ...(r.connUse !== undefined && { connUse: r.connUse }),
          times: { ...report.times, done: time },
          dsn: r.dsn,
          status,
          reason: r.reason,
        },
        reporter.resolution ?? DELAY_RESOLUTION_DEFAULT,
      ),
    );
  const append = async (log: DeliveryLogName, rec: DeliveryLogRecord): Promise<boolean> => {
    try {
      await reporter.bounce.append(log, report.queueId, rec);
      return true;
    } catch (err) {
      reporter.log.warn(`${report.queueId}: ${log} log append for <${recipient.address}>: ${(err as Error).message}`);
      return false;
    }
  };

  if (report.traceFlags?.includes('probe')) {
    // verify_append() for DEL_REQ_FLAG_MTA_VRFY: the verify cache learns the outcome, nobody gets mail,
    // and the recipient is done (a deferred probe is not retried; verify(8) probes again later)
    const ok = result.status === 'sent';
    line(ok ? 'deliverable' : 'undeliverable');
    const status = ok ? 'deliverable' : result.status === 'bounced' ? 'undeliverable' : 'undetermined';
    const addrs = [...new Set([recipient.original ?? recipient.address, recipient.address])];
    for (const a of addrs) {
      const done = await reporter.verify?.update(a, status, result.reason);
      if (!done) reporter.log.warn(`${report.queueId}: could not update the address verification status of ${a}`);
    }
    return result.status === 'deferred' ? { ...result, status: 'bounced' } : result;
  }
  switch (result.status) {
    case 'sent': {
      if (verify) {
        line('deliverable');
        await append(DELIVERY_LOG.TRACE, entry('deliverable'));
        return result;
      }
      line('sent');
      if (record || recipient.notify?.includes('SUCCESS')) {
        // The recipient has the mail: a lost success notice must not cause a second delivery.
        await append(DELIVERY_LOG.TRACE, entry(result.action ?? DEFAULT_ACTION.sent));
      }
      return result;
    }
    case 'bounced': {
      if (reporter.softBounce && !verify) {
        return recordStatus(reporter, { ...report, result: { ...result, status: 'deferred', dsn: `4${result.dsn.slice(1)}`, action: 'delayed' } });
      }
      if (verify) {
        line('undeliverable');
        await append(DELIVERY_LOG.TRACE, entry('undeliverable'));
        return result;
      }
      if (record) await append(DELIVERY_LOG.TRACE, entry(result.action ?? DEFAULT_ACTION.bounced));
      if (await append(DELIVERY_LOG.BOUNCE, entry(result.action ?? DEFAULT_ACTION.bounced))) {
        line('bounced');
        return result;
      }
      const deferred: RecipientResult = {
        ...result,
        status: 'deferred',
        dsn: `4${result.dsn.slice(1)}`,
        reason: `${result.reason} (${BOUNCE_FAILURE_REASON})`,
        action: 'delayed',
      };
      return recordStatus(reporter, { ...report, result: deferred });
    }
    case 'deferred': {
      line('deferred');
      const at = recipient.address.lastIndexOf('@');
      if (reporter.flush && at > 0) void reporter.flush.add(recipient.address.slice(at + 1), report.queueId).catch(() => undefined);
      if (verify || record) await append(DELIVERY_LOG.TRACE, entry(verify ? 'undeliverable' : DEFAULT_ACTION.deferred));
      await append(DELIVERY_LOG.DEFER, entry(result.action ?? DEFAULT_ACTION.deferred));
      return result;
    }
  }
}
