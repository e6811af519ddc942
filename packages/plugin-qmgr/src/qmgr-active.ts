/**
 * The active queue (qmgr_active.c, qmgr_message.c): the messages qmgr holds
 * in memory, at most qmgr_message_active_limit of them and
 * qmgr_message_recipient_limit recipients in all. Admitting a message resolves
 * its recipients and splits them into delivery requests per transport and
 * destination; when every recipient has an outcome the message is disposed
 * of (qmgr_active_done): bounce and success notices are asked for, a message
 * with deferred recipients goes to the deferred queue with its back-off (or is
 * returned to the sender once expired, or gets its one delay warning), and a
 * finished message is removed.
 */
import {
  DELIVERY_LOG,
  QUEUE,
  type DeliveryRecipient,
  type QueuedMessage,
  type RecipientResult,
} from '@postern/core';
import { backoffDelay, isExpired, returnExpired, type QmgrDefer } from './qmgr-defer.js';
import type { QmgrEnv } from './qmgr-params.js';
import { applyDeferTransports, applyFilter, type QmgrResolver, type Route } from './qmgr-resolve.js';
import type { Entry, Scheduler, Suspension } from './qmgr-schedule.js';

/** One message in the active queue, with this delivery pass's bookkeeping. */
export class ActiveMessage {
  readonly id: string;
  /** Recipients of this pass without an outcome yet. */
  outstanding = 0;
  /** Recipients deferred in this pass (envelope positions). */
  readonly deferredIdx: number[] = [];
  /** The last deferral reason, for mailq. */
  reason: string | undefined;
  /** Sent or bounced recipients not yet marked done in the store. */
  pendingDone: number[] = [];
  /** The chain of recipient updates, so they land in order and before the message moves on. */
  writes: Promise<unknown> = Promise.resolve();

  constructor(
    readonly msg: QueuedMessage,
    /** When the message entered the active queue (ms). */
    readonly activeTime: number,
    /** Came in with a flush ("postern queue -f"): defer_transports deliver too. */
    readonly flushed: boolean,
    /** Recipients this message holds in memory. */
    readonly rcptCount: number,
  ) {
    this.id = msg.id;
  }

  /** A notice failed: keep the message queued so it is tried again. */
  keep = false;
  /** The bounce or success notice of this pass was sent (a retried disposal does not send it again). */
  bounced = false;
  traced = false;

  /** postsuper -e/-f expired it: no deliveries, returned to the sender (qmgr_message_read). */
  forceExpired = false;

  get deferred(): boolean {
    return this.deferredIdx.length > 0 || this.keep;
  }
}

export interface ActiveStats {
  messages: number;
  recipients: number;
  /** High-water marks since start. */
  maxMessages: number;
  maxRecipients: number;
  delivered: number;
  removed: number;
  deferred: number;
}

export class ActiveQueue {
  readonly messages = new Map<string, ActiveMessage>();
  readonly stats: ActiveStats = { messages: 0, recipients: 0, maxMessages: 0, maxRecipients: 0, delivered: 0, removed: 0, deferred: 0 };
  /** Messages whose defer log must be reset when they are admitted (recovered from active). */
  readonly resetDeferLog = new Set<string>();
  private readonly finishing = new Set<Promise<void>>();
  /** Disposals waiting to be tried again after a store failure. */
  private readonly wakeRetries = new Set<() => void>();
  private stopping = false;

  constructor(
    private readonly env: QmgrEnv,
    private readonly resolver: QmgrResolver,
    private readonly scheduler: Scheduler,
    private readonly deferrer: QmgrDefer,
    /** Called when a message leaves the active queue (room for more). */
    private readonly onRoom: () => void,
  ) {}

  /** How many more messages fit (0 when the recipient limit is reached). */
  room(): number {
    const p = this.env.params;
    if (this.stats.recipients >= p.recipientLimit) return 0;
    return Math.max(0, p.activeLimit - this.messages.size);
  }

  /** Recipients that still fit in memory (qmgr_message_recipient_limit). */
  recipientRoom(): number {
    return Math.max(0, this.env.params.recipientLimit - this.stats.recipients);
  }

  has(id: string): boolean {
    return this.messages.has(id);
  }

  /** Admits messages just moved into the active queue, then starts what can start. */
  async admitBatch(messages: readonly QueuedMessage[], flushed: boolean): Promise<void> {
    await Promise.all(messages.map((m) => this.admit(m, flushed)));
    this.scheduler.pump();
  }

  private async admit(msg: QueuedMessage, flushed: boolean): Promise<void> {
    const { env } = this;
    const todo: DeliveryRecipient[] = [];
    msg.recipients.forEach((r, index) => {
      if (!r.done) {
        todo.push({
          index,
          address: r.address,
          ...(r.original !== undefined && { original: r.original }),
          ...(r.orcpt !== undefined && { orcpt: r.orcpt }),
          ...(r.notify !== undefined && { notify: r.notify }),
        });
      }
    });
    const am = new ActiveMessage(msg, Date.now(), flushed, todo.length);
    this.messages.set(am.id, am);
    const s = this.stats;
    s.messages = this.messages.size;
    s.recipients += todo.length;
    s.maxMessages = Math.max(s.maxMessages, s.messages);
    s.maxRecipients = Math.max(s.maxRecipients, s.recipients);
    env.log.info(`${am.id}: from=<${msg.sender}>, size=${msg.size}, nrcpt=${todo.length} (queue active)`);

    // Force-expired (postsuper -e/-f): no deliveries. The defer log of the last attempt says
    // why each recipient was delayed; without one, "message is administratively expired".
    if (msg.expired !== undefined && todo.length > 0) {
      am.forceExpired = true;
      this.resetDeferLog.delete(am.id);
      am.deferredIdx.push(...todo.map((r) => r.index));
      am.outstanding = 0;
      this.finish(am);
      return;
    }
    // Postfix resets the defer log when it reads the message: it describes this pass only.
    if ((msg.attempts ?? 0) > 0 || msg.reason !== undefined || this.resetDeferLog.delete(am.id)) {
      await env.store.deleteLog(DELIVERY_LOG.DEFER, am.id).catch((err: Error) => env.log.warn(`${am.id}: reset defer log: ${err.message}`));
    }
    am.outstanding = todo.length;
    if (todo.length === 0) {
      this.finish(am);
      return;
    }

    const routes = await this.resolveAll(msg.sender, todo);
    const groups = new Map<string, { transport: string; dest: string; nexthop: string; rcpts: DeliveryRecipient[] }>();
    for (const rcpt of todo) {
      const filtered = applyFilter(routes.get(rcpt.address)!, msg.filter, env.params.myhostname);
      const route = applyDeferTransports(filtered, env.params.deferTransports, flushed);
      const t = this.scheduler.transport(route.transport);
      // A recipient limit of 1 makes the destination the recipient (per-recipient concurrency).
      const dest = (t.params.destRecipientLimit === 1 ? `${route.recipient}@${route.nexthop}` : route.nexthop).toLowerCase();
      const key = `${route.transport}\n${dest}`;
      let g = groups.get(key);
      if (!g) groups.set(key, (g = { transport: route.transport, dest, nexthop: route.nexthop, rcpts: [] }));
      g.rcpts.push(rcpt);
    }
    const refused: { entry: Entry; why: Suspension }[] = [];
    for (const g of groups.values()) {
      const queue = this.scheduler.queue(g.transport, g.dest, g.nexthop);
      const limit = queue.transport.params.destRecipientLimit;
      for (let i = 0; i < g.rcpts.length; i += limit) {
        const entry: Entry = { message: am, recipients: g.rcpts.slice(i, i + limit), queue };
        const why = this.scheduler.enqueue(entry);
        if (why) refused.push({ entry, why });
      }
    }
    for (const { entry, why } of refused) void this.deferEntry(entry, why);
  }

  private async resolveAll(sender: string, rcpts: readonly DeliveryRecipient[]): Promise<Map<string, Route>> {
    const routes = new Map<string, Route>();
    const asked = new Set<string>();
    const waits: Promise<void>[] = [];
    for (const { address } of rcpts) {
      if (asked.has(address)) continue;
      asked.add(address);
      const r = this.resolver.resolve(address, sender);
      if (r instanceof Promise) waits.push(r.then((route) => void routes.set(address, route)));
      else routes.set(address, r);
    }
    if (waits.length) await Promise.all(waits);
    return routes;
  }

  /** qmgr defers an entry itself (dead destination or transport): logs, records, accounts. */
  async deferEntry(entry: Entry, why: Suspension): Promise<void> {
    const results = await this.deferrer.defer(entry.message, entry.recipients, why);
    this.recipientsDone(entry.message, results);
  }

  /** Outcomes for some of a message's recipients (a delivery agent's answer or qmgr's own deferral). */
  recipientsDone(am: ActiveMessage, results: readonly RecipientResult[]): void {
    for (const r of results) {
      if (r.status === 'deferred') {
        am.deferredIdx.push(r.index);
        am.reason = r.reason;
      } else {
        am.pendingDone.push(r.index);
        if (r.status === 'sent') this.stats.delivered++;
      }
    }
    am.outstanding -= results.length;
    if (am.outstanding > 0) {
      // Record progress now, so a crash never delivers these recipients twice.
      if (am.pendingDone.length) this.writeDone(am);
    } else if (am.outstanding === 0) this.finish(am);
  }

  private writeDone(am: ActiveMessage): void {
    const done = am.pendingDone;
    if (done.length === 0) return;
    am.pendingDone = [];
    am.writes = am.writes
      .then(() => this.env.store.updateRecipients(am.id, done.map((index) => ({ index, done: true }))))
      .catch((err: Error) => {
        // written again with the next update or when the message is disposed of
        am.pendingDone.push(...done);
        this.env.log.warn(`${am.id}: update recipients: ${err.message}`);
      });
  }

  /**
   * Disposes of a message whose recipients all have an outcome. When the
   * queue store fails (Redis failing over, a full disk) the disposal is
   * tried again, backing off to 5 s, for as long as qmgr runs: the
   * message must not sit in the active queue until the next qmgr start
   * while the store is healthy again. A stopping qmgr leaves it there
   * (the next start puts it back in incoming).
   */
  private finish(am: ActiveMessage): void {
    const retrying = async () => {
      for (let delay = 500; !(await this.done(am)) && !this.stopping; delay = Math.min(delay * 2, 5000)) {
        await new Promise<void>((r) => {
          const wake = () => {
            clearTimeout(t);
            this.wakeRetries.delete(wake);
            r();
          };
          const t = setTimeout(wake, delay);
          this.wakeRetries.add(wake);
        });
      }
    };
    const p = retrying().finally(() => {
      this.finishing.delete(p);
      this.messages.delete(am.id);
      this.stats.messages = this.messages.size;
      this.stats.recipients -= am.rcptCount;
      this.onRoom();
    });
    this.finishing.add(p);
  }

  /** Resolves when the messages being disposed of are done (those waiting to retry give up). */
  async settled(): Promise<void> {
    this.stopping = true;
    for (const wake of this.wakeRetries) wake();
    this.wakeRetries.clear();
    while (this.finishing.size) await Promise.all([...this.finishing]);
  }

  /** qmgr_active_done: notices, then deferred queue or removal; false when the store failed. */
  private async done(am: ActiveMessage): Promise<boolean> {
    const { env } = this;
    const { store, bounce, log, params } = env;
    const msg = am.msg;
    const now = Date.now();
    try {
      await am.writes;
      if (am.forceExpired || (am.deferred && isExpired(params, msg, now))) {
        log.info(`${am.id}: from=<${msg.sender}>, status=${am.forceExpired ? 'force-expired' : 'expired'}, returned to sender`);
        if (await returnExpired(env, am)) {
          am.pendingDone.push(...am.deferredIdx);
          am.deferredIdx.length = 0;
        }
      }
      if (!am.bounced && (await store.readLog(DELIVERY_LOG.BOUNCE, am.id)).length > 0) {
        try {
          await bounce.notify('bounce', am.id);
          am.bounced = true;
        } catch (err) {
          this.noticeFailed(am, 'bounce', err);
        }
      }
      if (!am.traced && wantsTrace(msg) && (await store.readLog(DELIVERY_LOG.TRACE, am.id)).length > 0) {
        try {
          await bounce.notify(msg.traceFlags?.includes('verify') ? 'verify' : 'success', am.id);
          am.traced = true;
        } catch (err) {
          this.noticeFailed(am, 'trace', err);
        }
      }
      if (!am.deferred) {
        await store.delete(am.id);
        this.stats.removed++;
        log.info(`${am.id}: removed`);
        return true;
      }
      let warned = msg.warned;
      if (params.delayWarningTime > 0 && !warned && now >= msg.arrivalTime + params.delayWarningTime - 1000) {
        try {
          await bounce.notify('delay', am.id);
          warned = now;
        } catch (err) {
          log.warn(`${am.id}: delay notice: ${(err as Error).message}`);
        }
      }
      this.writeDone(am);
      await am.writes;
      if (am.pendingDone.length) throw new Error('recipient updates failed');
      if (am.bounced) await store.deleteLog(DELIVERY_LOG.BOUNCE, am.id);
      if (am.traced) await store.deleteLog(DELIVERY_LOG.TRACE, am.id);
      await store.move(am.id, QUEUE.DEFERRED, {
        nextAttempt: now + backoffDelay(params, msg.arrivalTime, now),
        ...(am.reason !== undefined && { reason: am.reason }),
        attempts: (msg.attempts ?? 0) + 1,
        ...(warned !== undefined && { warned }),
      });
      this.stats.deferred++;
      return true;
    } catch (err) {
      log.warn(`${am.id}: ${(err as Error).message}${this.stopping ? '' : '; trying again'}`);
      return false;
    }
  }

  private noticeFailed(am: ActiveMessage, what: string, err: unknown): void {
    this.env.log.warn(`${am.id}: ${what} notice: ${(err as Error).message}`);
    // Keep the message (deferred) so the notice is tried again on the next pass.
    am.keep = true;
    am.reason ??= 'bounce or trace service failure';
  }
}

/** Whether a success or verify notice may be due (trace_flush's condition). */
function wantsTrace(msg: QueuedMessage): boolean {
  if (msg.traceFlags?.some((f) => f === 'verify' || f === 'record')) return true;
  return msg.recipients.some((r) => r.notify?.includes('SUCCESS'));
}
