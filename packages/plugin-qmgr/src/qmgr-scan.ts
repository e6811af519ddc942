/**
 * Queue scans (qmgr_scan.c, qmgr_active_feed): fill the active queue from
 * the incoming queue and, when due, from the deferred queue, a batch at a
 * time and only while the active queue has room, alternating between the two
 * so neither a flood of new mail nor a large deferred backlog starves the
 * other. Moves of a batch run concurrently. While new mail flows (the incoming
 * queue gave messages within the last second), a due-time pass over the
 * deferred queue takes no more messages than the incoming queue gave: Postfix
 * round-robins the two scans one message each, so that "a large mail backlog
 * will not slow down normal queue accesses"; a batch of 500 deferred messages
 * per handful of new ones would. A flush ("postern queue -f") is not held back.
 *
 *   incoming   every message, in arrival order (I trigger, wakeup, start).
 *   deferred   messages whose next attempt is due, in next-attempt order,
 *              every queue_run_delay and on the D trigger; with the A trigger
 *              ("postern queue -f") every deferred message, ignoring time stamps.
 *   active     at start: whatever a previous qmgr left there goes back to
 *              incoming (recipients already marked done stay done). Also after
 *              a move into active failed (the store went away mid-batch, a
 *              Redis failover): the move may have been applied all the same,
 *              so messages in active that this qmgr does not hold go back to
 *              incoming once the store answers again.
 *
 * The hold queue is never scanned.
 */
import { QUEUE, type QueuedMessage } from '@postern/core';
import type { ActiveQueue } from './qmgr-active.js';
import type { QmgrEnv } from './qmgr-params.js';

const BATCH = 500;
/** New mail flows while the incoming queue gave messages this recently (ms). */
const INFLOW_WINDOW = 1000;
/** How soon a deferred pass held back by new mail looks again (ms). */
const INFLOW_PAUSE = 50;
/** How long after a failed reclaim of the active queue it is tried again (ms). */
const RECLAIM_RETRY = 1000;

/** How many messages a batch may still take: the message room and the recipient room. */
class Budget {
  private taken = 0;
  constructor(
    private messages: number,
    private recipients: number,
  ) {}
  /** Takes `msg` if it fits; the first message of a batch always fits, so a huge one cannot starve. */
  take(msg: QueuedMessage): boolean {
    if (this.messages <= 0) return false;
    let n = 0;
    for (const r of msg.recipients) if (!r.done) n++;
    if (this.taken > 0 && n > this.recipients) return false;
    this.taken++;
    this.messages--;
    this.recipients -= n;
    return true;
  }
}

interface DeferredPass {
  /** Only messages due by this time (ms); undefined: all (flush). */
  readonly dueBy: number | undefined;
  /** For a flush: the deferred queue's IDs when the pass began, and how far we are. */
  ids?: string[];
  pos: number;
  /** IDs this pass has taken, so a message re-deferred during the pass is not taken again. */
  readonly seen: Set<string>;
}

export class QmgrScan {
  private incomingWanted = false;
  private incomingGen = 0;
  private deferredPass: DeferredPass | undefined;
  /** A deferred scan asked for while one runs: start it when this one ends. */
  private deferredNext: { all: boolean } | undefined;
  private running = false;
  private again = false;
  private turn = 0;
  private stopped = false;
  /** A move into active failed: its message may sit in active, held by nobody. */
  private orphans = false;
  private reclaimTimer: NodeJS.Timeout | undefined;
  /** When the incoming queue last gave messages (ms). */
  private lastInflow = 0;
  /** Deferred messages that may follow the new ones fed while new mail flows. */
  private deferredCredit = 0;
  private paceTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly env: QmgrEnv,
    private readonly active: ActiveQueue,
  ) {}

  /** Moves what is left in the active queue back to incoming (qmgr start). Returns the count. */
  async recover(): Promise<number> {
    return this.requeueActive(() => false);
  }

  /** Moves the active queue's messages that `held` does not claim back to incoming. */
  private async requeueActive(held: (id: string) => boolean): Promise<number> {
    const { store } = this.env;
    const ids: string[] = [];
    for await (const m of store.scan(QUEUE.ACTIVE)) if (!held(m.id)) ids.push(m.id);
    for (let i = 0; i < ids.length; i += BATCH) {
      const chunk = ids.slice(i, i + BATCH);
      await Promise.all(chunk.map((id) => store.move(id, QUEUE.INCOMING)));
    }
    for (const id of ids) this.active.resetDeferLog.add(id);
    return ids.length;
  }

  requestIncoming(): void {
    this.incomingWanted = true;
    this.incomingGen++;
    this.kick();
  }

  /** Starts a deferred scan: due messages, or with `all` every one of them. */
  requestDeferred(all: boolean): void {
    if (this.deferredPass) {
      this.deferredNext = { all: all || (this.deferredNext?.all ?? false) };
    } else {
      this.deferredPass = this.newPass(all);
    }
    this.kick();
  }

  /** Runs the feeder unless it runs already (then it looks again when done). */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    void this.run();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.reclaimTimer);
    clearTimeout(this.paceTimer);
  }

  /**
   * After a failed move into active: the messages there that this qmgr does
   * not hold go back to incoming (a store shared by several nodes refuses to
   * move one another live node holds). False while the store still fails.
   */
  private async reclaim(): Promise<boolean> {
    try {
      const n = await this.requeueActive((id) => this.active.has(id));
      this.orphans = false;
      if (n > 0) {
        this.env.log.info(`queue scan: ${n} message(s) left in the active queue by a failed move returned to incoming`);
        this.incomingWanted = true;
      }
      return true;
    } catch (err) {
      this.env.log.warn(`queue scan: active queue: ${(err as Error).message}; trying again`);
      this.retryLater();
      return false;
    }
  }

  /** A deferred pass held back while new mail flows: look again shortly. */
  private paceLater(): void {
    if (this.paceTimer || this.stopped) return;
    this.paceTimer = setTimeout(() => {
      this.paceTimer = undefined;
      this.kick();
    }, INFLOW_PAUSE);
    this.paceTimer.unref();
  }

  private retryLater(): void {
    clearTimeout(this.reclaimTimer);
    this.reclaimTimer = setTimeout(() => this.kick(), RECLAIM_RETRY);
    this.reclaimTimer.unref();
  }

  private newPass(all: boolean): DeferredPass {
    return { dueBy: all ? undefined : Date.now(), pos: 0, seen: new Set() };
  }

  private async run(): Promise<void> {
    try {
      do {
        this.again = false;
        if (this.orphans && !(await this.reclaim())) break;
        while (!this.stopped) {
          const room = this.active.room();
          if (room <= 0) break;
          const paced = this.deferredPass?.dueBy !== undefined && Date.now() - this.lastInflow < INFLOW_WINDOW;
          const sources: ('incoming' | 'deferred')[] = [];
          if (this.incomingWanted) sources.push('incoming');
          if (this.deferredPass && (!paced || this.deferredCredit > 0)) sources.push('deferred');
          if (sources.length === 0) {
            if (this.deferredPass) this.paceLater();
            break;
          }
          const which = sources[this.turn++ % sources.length]!;
          const limit = Math.min(room, BATCH);
          if (which === 'incoming') {
            const gen = this.incomingGen;
            const { batch, exhausted } = await this.takeIncoming(limit, new Budget(limit, this.active.recipientRoom()));
            const n = await this.feed(batch, false);
            if (n > 0) {
              this.lastInflow = Date.now();
              this.deferredCredit = Math.min(this.deferredCredit + n, BATCH);
            }
            // Nothing left behind and no trigger since the scan began: no need to look again.
            if ((n === 0 || exhausted) && gen === this.incomingGen) this.incomingWanted = false;
          } else {
            const pass = this.deferredPass!;
            const take = paced ? Math.min(limit, this.deferredCredit) : limit;
            const batch = await this.takeDeferred(pass, take, new Budget(take, this.active.recipientRoom()));
            if (paced) this.deferredCredit = Math.max(0, this.deferredCredit - batch.length);
            const n = await this.feed(batch, pass.dueBy === undefined);
            if (n === 0) {
              const next = this.deferredNext;
              this.deferredNext = undefined;
              this.deferredPass = next ? this.newPass(next.all) : undefined;
            }
          }
        }
      } while (this.again && !this.stopped);
    } catch (err) {
      this.env.log.warn(`queue scan: ${(err as Error).message}`);
      if (this.orphans) this.retryLater();
    } finally {
      this.running = false;
    }
  }

  /** A batch from the incoming queue; `exhausted` when the scan saw the whole queue and took all of it. */
  private async takeIncoming(limit: number, budget: Budget): Promise<{ batch: QueuedMessage[]; exhausted: boolean }> {
    const batch: QueuedMessage[] = [];
    let seen = 0;
    let full = false;
    for await (const m of this.env.store.scan(QUEUE.INCOMING, { limit })) {
      seen++;
      if (this.active.has(m.id)) continue;
      if (!budget.take(m)) {
        full = true;
        break;
      }
      batch.push(m);
    }
    return { batch, exhausted: !full && seen < limit };
  }

  private async takeDeferred(pass: DeferredPass, limit: number, budget: Budget): Promise<QueuedMessage[]> {
    const { store } = this.env;
    const out: QueuedMessage[] = [];
    if (pass.dueBy !== undefined) {
      for await (const m of store.scan(QUEUE.DEFERRED, { dueBy: pass.dueBy, limit })) {
        if (pass.seen.has(m.id) || this.active.has(m.id)) continue;
        if (m.nextAttempt !== undefined && m.nextAttempt > pass.dueBy) continue;
        if (!budget.take(m)) break;
        pass.seen.add(m.id);
        out.push(m);
      }
      return out;
    }
    // A flush: take the IDs once, so mail deferred again during the pass is not taken twice.
    if (!pass.ids) {
      pass.ids = [];
      for await (const m of store.scan(QUEUE.DEFERRED)) pass.ids.push(m.id);
    }
    while (out.length === 0 && pass.pos < pass.ids.length) {
      const start = pass.pos;
      const chunk = pass.ids.slice(start, start + limit);
      pass.pos += chunk.length;
      const found = await Promise.all(chunk.map((id) => store.get(id)));
      for (let i = 0; i < found.length; i++) {
        const m = found[i];
        if (!m || m.queue !== QUEUE.DEFERRED || this.active.has(m.id) || pass.seen.has(m.id)) continue;
        if (!budget.take(m)) {
          pass.pos = start + i; // the rest of the chunk waits for the next batch
          break;
        }
        pass.seen.add(m.id);
        out.push(m);
      }
    }
    return out;
  }

  /** Moves `batch` into the active queue (concurrently) and admits what arrived there. */
  private async feed(batch: readonly QueuedMessage[], flushed: boolean): Promise<number> {
    if (batch.length === 0) return 0;
    const { store } = this.env;
    const moved = await Promise.allSettled(batch.map((m) => store.move(m.id, QUEUE.ACTIVE)));
    const admitted: QueuedMessage[] = [];
    let failed: unknown;
    for (const r of moved) {
      if (r.status === 'rejected') failed ??= r.reason;
      else if (r.value) admitted.push(r.value);
    }
    await this.active.admitBatch(admitted, flushed);
    if (failed !== undefined) {
      // the store may have applied a move it could not confirm: look in active before the next batch
      this.orphans = true;
      throw failed;
    }
    return batch.length;
  }
}
