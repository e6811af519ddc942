/**
 * The scheduler (qmgr_transport.c, qmgr_queue.c, SCHEDULER_README): one
 * queue per transport and destination, each with a concurrency window that
 * starts at initial_destination_concurrency and moves with delivery feedback
 * (slow start), capped by <transport>_destination_concurrency_limit; per
 * transport at most maxproc deliveries at a time. Destinations and transports
 * are served round-robin, so one busy destination does not starve the others.
 *
 * A destination whose deliveries keep failing (destinationDown) for
 * <transport>_destination_concurrency_failed_cohort_limit pseudo-cohorts is
 * declared dead: its pending mail is deferred and nothing more goes to it until
 * minimal_backoff_time has passed or "postern queue -f" flushes dead sites. A
 * transport whose agent cannot be reached is dead for transport_retry_time.
 *
 * Every operation is O(1) per delivery: queues that can dispatch sit in a
 * ready set, and only those are visited.
 */
import type { DeliveryRecipient } from '@postern/core';
import { feedbackValue, type TransportParams } from './qmgr-params.js';
import type { ActiveMessage } from './qmgr-active.js';

/** One delivery request's worth of work: a message's recipients for one destination. */
export interface Entry {
  readonly message: ActiveMessage;
  readonly recipients: readonly DeliveryRecipient[];
  readonly queue: DestQueue;
}

/** Why a transport or destination is not taking mail. */
export interface Suspension {
  readonly dsn: string;
  readonly reason: string;
}

/** A FIFO that does not shift arrays. */
class Fifo<T> {
  private items: (T | undefined)[] = [];
  private head = 0;
  get length(): number {
    return this.items.length - this.head;
  }
  push(item: T): void {
    this.items.push(item);
  }
  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head];
    this.items[this.head++] = undefined;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }
  drain(): T[] {
    const out = this.items.slice(this.head) as T[];
    this.items = [];
    this.head = 0;
    return out;
  }
}

export class DestQueue {
  readonly todo = new Fifo<Entry>();
  busy = 0;
  window: number;
  success = 0;
  failure = 0;
  failCohorts = 0;
  dead: Suspension | undefined;
  timer: NodeJS.Timeout | undefined;

  constructor(
    readonly transport: Transport,
    readonly key: string,
    readonly nexthop: string,
  ) {
    this.window = transport.initialWindow();
  }

  /** Deliveries this destination may have in flight now. */
  get limit(): number {
    if (this.dead) return 0;
    const w = Math.floor(this.window);
    const cap = this.transport.params.destConcurrencyLimit;
    return cap > 0 ? Math.min(w, cap) : w;
  }
}

export class Transport {
  readonly queues = new Map<string, DestQueue>();
  /** Queues with work and room, in round-robin order. */
  readonly ready = new Set<DestQueue>();
  busy = 0;
  dead: Suspension | undefined;
  timer: NodeJS.Timeout | undefined;

  constructor(
    readonly name: string,
    readonly params: TransportParams,
  ) {}

  initialWindow(): number {
    const cap = this.params.destConcurrencyLimit;
    return cap > 0 ? Math.min(this.params.initialConcurrency, cap) : this.params.initialConcurrency;
  }
}

export interface SchedulerOptions {
  readonly transportParams: (name: string) => TransportParams;
  /** Starts one delivery; must not call back into the scheduler synchronously. */
  readonly dispatch: (entry: Entry) => void;
  /** How long a dead destination stays dead (minimal_backoff_time), ms. */
  readonly deadQueueTime: number;
  /** How long a dead transport stays dead (transport_retry_time), ms. */
  readonly deadTransportTime: number;
}

export class Scheduler {
  readonly transports = new Map<string, Transport>();
  private readonly readyTransports = new Set<Transport>();
  private pumping = false;
  private stopped = false;

  constructor(private readonly options: SchedulerOptions) {}

  transport(name: string): Transport {
    let t = this.transports.get(name);
    if (!t) this.transports.set(name, (t = new Transport(name, this.options.transportParams(name))));
    return t;
  }

  queue(transport: string, key: string, nexthop: string): DestQueue {
    const t = this.transport(transport);
    let q = t.queues.get(key);
    if (!q) t.queues.set(key, (q = new DestQueue(t, key, nexthop)));
    return q;
  }

  /** Why `queue` cannot take mail now, if it cannot. */
  suspended(queue: DestQueue): Suspension | undefined {
    return queue.transport.dead ?? queue.dead;
  }

  /** Queues `entry`, or returns why its destination is not taking mail (the caller defers it). */
  enqueue(entry: Entry): Suspension | undefined {
    const why = this.suspended(entry.queue);
    if (why) return why;
    entry.queue.todo.push(entry);
    this.refresh(entry.queue);
    return undefined;
  }

  /** Dispatches as much as the windows and process limits allow, round-robin. */
  pump(): void {
    if (this.pumping || this.stopped) return;
    this.pumping = true;
    try {
      while (this.readyTransports.size > 0) {
        const t = first(this.readyTransports)!;
        const q = first(t.ready)!;
        const entry = q.todo.shift()!;
        q.busy++;
        t.busy++;
        t.ready.delete(q);
        this.readyTransports.delete(t);
        this.refresh(q);
        this.options.dispatch(entry);
      }
    } finally {
      this.pumping = false;
    }
  }

  /** A delivery finished: frees its slots. */
  completed(entry: Entry): void {
    const q = entry.queue;
    q.busy--;
    q.transport.busy--;
    this.refresh(q);
  }

  /** Positive feedback (qmgr_queue_unthrottle): the destination answered. */
  unthrottle(q: DestQueue): void {
    const p = q.transport.params;
    q.failCohorts = 0;
    if (q.dead) {
      // Back from the almost grave: a delivery to it went through after all.
      this.revive(q);
      return;
    }
    if (p.destConcurrencyLimit === 0 || p.destConcurrencyLimit > q.window) {
      if (q.window < q.busy + p.initialConcurrency) {
        const fb = feedbackValue(p.positiveFeedback, q.window);
        q.success += fb;
        while (q.success + fb / 2 >= 1) {
          q.window += 1;
          q.success -= 1;
          q.failure = 0;
        }
        if (p.destConcurrencyLimit > 0 && q.window > p.destConcurrencyLimit) q.window = p.destConcurrencyLimit;
      }
    }
    this.refresh(q);
  }

  /**
   * Negative feedback (qmgr_queue_throttle): the destination failed. Returns
   * the entries waiting for it when this made it dead (the caller defers them).
   */
  throttle(q: DestQueue, why: Suspension): Entry[] {
    if (q.dead) return [];
    const p = q.transport.params;
    q.failCohorts += 1 / Math.max(1, q.window);
    if (p.failedCohortLimit > 0 && q.failCohorts >= p.failedCohortLimit) {
      q.dead = why;
      q.timer = setTimeout(() => this.revive(q), this.options.deadQueueTime);
      q.timer.unref();
      this.refresh(q);
      return q.todo.drain();
    }
    const fb = feedbackValue(p.negativeFeedback, q.window);
    q.failure -= fb;
    while (q.failure - fb / 2 < 0) {
      q.window -= 1;
      q.success = 0;
      q.failure += 1;
    }
    if (q.window < 1) q.window = 1;
    this.refresh(q);
    return [];
  }

  /** The transport's agent is unreachable: suspends it and returns all its waiting entries. */
  throttleTransport(t: Transport, why: Suspension): Entry[] {
    if (t.dead) return [];
    t.dead = why;
    t.timer = setTimeout(() => this.reviveTransport(t), this.options.deadTransportTime);
    t.timer.unref();
    const drained: Entry[] = [];
    for (const q of t.queues.values()) {
      drained.push(...q.todo.drain());
      this.refresh(q);
    }
    return drained;
  }

  /** Forgets every dead destination and transport (the F trigger). */
  flushDead(): void {
    for (const t of this.transports.values()) {
      if (t.dead) this.reviveTransport(t);
      for (const q of t.queues.values()) if (q.dead) this.revive(q);
    }
  }

  private revive(q: DestQueue): void {
    if (q.timer) clearTimeout(q.timer);
    q.timer = undefined;
    q.dead = undefined;
    q.window = q.busy > 0 ? q.busy : q.transport.initialWindow();
    q.success = q.failure = q.failCohorts = 0;
    this.refresh(q);
    this.pump();
  }

  private reviveTransport(t: Transport): void {
    if (t.timer) clearTimeout(t.timer);
    t.timer = undefined;
    t.dead = undefined;
    for (const q of t.queues.values()) this.refresh(q);
    this.refreshTransport(t);
    this.pump();
  }

  /** Recomputes whether `q` can dispatch, and drops it when it is idle. */
  private refresh(q: DestQueue): void {
    const t = q.transport;
    if (q.todo.length > 0 && q.busy < q.limit) {
      if (!t.ready.has(q)) t.ready.add(q);
    } else {
      t.ready.delete(q);
      if (q.todo.length === 0 && q.busy === 0 && !q.dead && t.queues.get(q.key) === q) t.queues.delete(q.key);
    }
    this.refreshTransport(t);
  }

  private refreshTransport(t: Transport): void {
    if (t.ready.size > 0 && !t.dead && t.busy < t.params.processLimit) {
      if (!this.readyTransports.has(t)) this.readyTransports.add(t);
    } else this.readyTransports.delete(t);
  }

  /** Deliveries in flight, all transports. */
  get busy(): number {
    let n = 0;
    for (const t of this.transports.values()) n += t.busy;
    return n;
  }

  /** Dispatches nothing more (qmgr is stopping). */
  stop(): void {
    this.stopped = true;
  }

  /** Clears the suspension timers (at stop). */
  close(): void {
    for (const t of this.transports.values()) {
      if (t.timer) clearTimeout(t.timer);
      for (const q of t.queues.values()) if (q.timer) clearTimeout(q.timer);
    }
  }
}

function first<T>(set: Set<T>): T | undefined {
  for (const v of set) return v;
  return undefined;
}
