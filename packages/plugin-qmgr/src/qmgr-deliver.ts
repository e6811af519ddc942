/**
 * Delivery requests (qmgr_deliver.c): hands one entry (a message's recipients
 * for one destination) to the transport's delivery agent on
 * queue_directory/private/<transport>, and feeds the answer back: outcomes to
 * the active queue, concurrency feedback to the scheduler. An agent that
 * cannot be reached suspends its transport ("mail transport unavailable"); a
 * destination reported down is throttled and, once dead, its waiting mail is
 * deferred "delivery temporarily suspended: <reason>".
 */
import {
  deliveryClient,
  isPosternError,
  MAIL_CLASS,
  QUEUE,
  type DeliveryRequest,
  type DeliveryResponse,
  type DeliveryService,
  type RecipientResult,
} from '@postern/core';
import type { ActiveQueue } from './qmgr-active.js';
import type { QmgrEnv } from './qmgr-params.js';
import type { Entry, Scheduler, Suspension } from './qmgr-schedule.js';

export const TRANSPORT_UNAVAILABLE: Suspension = { dsn: '4.3.0', reason: 'mail transport unavailable' };
export const TRANSPORT_FAILURE: Suspension = { dsn: '4.3.0', reason: 'unknown mail transport error' };
export const SUSPENDED = 'delivery temporarily suspended: ';
/** Pauses before a delivery whose agent connection failed is tried again (ms). */
export const AGENT_RETRY_DELAYS: readonly number[] = [250, 1000, 2000];

const STRERROR: Readonly<Record<string, string>> = {
  ENOENT: 'No such file or directory',
  ECONNREFUSED: 'Connection refused',
  EACCES: 'Permission denied',
  ECONNRESET: 'Connection reset by peer',
  EAGAIN: 'Resource temporarily unavailable',
};

export class QmgrDeliver {
  private readonly clients = new Map<string, DeliveryService>();
  /** Deliveries in flight (their promises), for a graceful stop. */
  readonly inflight = new Set<Promise<void>>();

  constructor(
    private readonly env: QmgrEnv,
    private readonly scheduler: Scheduler,
    private readonly active: ActiveQueue,
  ) {}

  /** The scheduler's dispatch: starts one delivery. */
  dispatch(entry: Entry): void {
    const p = this.run(entry).finally(() => this.inflight.delete(p));
    this.inflight.add(p);
  }

  private client(transport: string): DeliveryService {
    let c = this.clients.get(transport);
    if (!c) this.clients.set(transport, (c = deliveryClient(this.env.clients, transport)));
    return c;
  }

  private async run(entry: Entry): Promise<void> {
    const t = entry.queue.transport;
    let response: DeliveryResponse;
    try {
      response = await this.deliverRetrying(t.name, entry);
    } catch (err) {
      this.scheduler.completed(entry);
      const why = this.transportTrouble(t.name, err);
      const drained = this.scheduler.throttleTransport(t, why);
      await Promise.all([entry, ...drained].map((e) => this.active.deferEntry(e, why)));
      this.scheduler.pump();
      return;
    }

    const byIndex = new Map<number, RecipientResult>();
    for (const r of response.results ?? []) byIndex.set(r.index, r);
    const answered: RecipientResult[] = [];
    const missing = entry.recipients.filter((rcpt) => {
      const r = byIndex.get(rcpt.index);
      if (r) answered.push(r);
      return !r;
    });

    let drained: Entry[] = [];
    let why: Suspension | undefined;
    if (response.destinationDown) {
      const first = answered.find((r) => r.status === 'deferred');
      why = { dsn: first?.dsn ?? '4.0.0', reason: SUSPENDED + (first?.reason ?? 'unknown error') };
      drained = this.scheduler.throttle(entry.queue, why);
    } else {
      this.scheduler.unthrottle(entry.queue);
    }
    this.scheduler.completed(entry);
    this.active.recipientsDone(entry.message, answered);
    this.scheduler.pump();

    const work: Promise<void>[] = drained.map((e) => this.active.deferEntry(e, why!));
    if (missing.length) {
      this.env.log.warn(`${entry.message.id}: transport ${t.name}: no status for ${missing.length} recipient(s)`);
      work.push(this.active.deferEntry({ ...entry, recipients: missing }, { dsn: '4.3.0', reason: 'mail system internal error' }));
    }
    await Promise.all(work);
  }

  /**
   * One delivery request; an agent process that died under it, or whose
   * socket is between two processes (master is restarting it), is tried again
   * after AGENT_RETRY_DELAYS before the transport is suspended, so that mail
   * in flight when a process is killed does not wait for the deferred queue.
   * (Postfix runs one agent process per delivery, so a kill costs it one
   * delivery; a Postern agent process carries many.)
   */
  private async deliverRetrying(transport: string, entry: Entry): Promise<DeliveryResponse> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.client(transport).deliver(request(entry));
      } catch (err) {
        const delay = AGENT_RETRY_DELAYS[attempt];
        if (delay === undefined) throw err;
        this.env.log.debug(`${entry.message.id}: transport ${transport}: ${(err as Error)?.message ?? String(err)}; trying again in ${delay} ms`);
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  /** Logs what went wrong talking to the agent, and what the transport's mail is deferred with. */
  private transportTrouble(transport: string, err: unknown): Suspension {
    if (isPosternError(err) && err.code === 'POSTERN_ERR_IPC_CONNECT') {
      const code = err.message.split(': ').pop() ?? '';
      this.env.log.warn(`connect to transport ${MAIL_CLASS.PRIVATE}/${transport}: ${STRERROR[code] ?? code}`);
      return TRANSPORT_UNAVAILABLE;
    }
    this.env.log.warn(`transport ${transport} failure: ${(err as Error)?.message ?? String(err)}`);
    return TRANSPORT_FAILURE;
  }
}

/** The delivery request for `entry` (deliver_request.h). */
export function request(entry: Entry): DeliveryRequest {
  const am = entry.message;
  const m = am.msg;
  return {
    queueId: am.id,
    queueName: QUEUE.ACTIVE,
    transport: entry.queue.transport.name,
    nexthop: entry.queue.nexthop,
    sender: m.sender,
    recipients: entry.recipients,
    arrivalTime: m.arrivalTime,
    size: m.size,
    activeTime: am.activeTime,
    ...(m.dsnRet !== undefined && { dsnRet: m.dsnRet }),
    ...(m.dsnEnvid !== undefined && { dsnEnvid: m.dsnEnvid }),
    ...(m.client !== undefined && { client: m.client }),
    ...(m.sasl !== undefined && { sasl: m.sasl }),
    ...(m.bodyType !== undefined && { bodyType: m.bodyType }),
    ...(m.smtputf8 !== undefined && { smtputf8: m.smtputf8 }),
    ...(m.hops !== undefined && { hops: m.hops }),
    ...(m.traceFlags !== undefined && { traceFlags: m.traceFlags }),
  };
}
