/**
 * The LMDB queue's reusable space (core's QUEUE_RECLAIMABLE_FILE): the data
 * file never shrinks, but pages of removed mail go on LMDB's free list and
 * new mail reuses them. Reusable = the file's size less the pages every
 * database (the named ones, the main one, the free list itself and the two
 * meta pages) occupies. Written at most once a second after a change, by
 * whichever process changed the queue, with an atomic rename.
 */
import { renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { QUEUE_RECLAIMABLE_FILE, type Logger } from '@postern/core';
import type { QueueDbs } from './queue-lmdb.js';

interface DbStats {
  readonly pageSize: number;
  readonly treeBranchPageCount: number;
  readonly treeLeafPageCount: number;
  readonly overflowPages: number;
  readonly free?: DbStats;
}

const pagesOf = (s: DbStats | undefined): number => (s ? s.treeBranchPageCount + s.treeLeafPageCount + s.overflowPages : 0);

/** Bytes of the data file that new mail can reuse. */
export function reclaimableBytes(dbs: QueueDbs): number {
  const root = dbs.root.getStats() as DbStats;
  let used = 2 + pagesOf(root) + pagesOf(root.free);
  for (const db of [dbs.messages, dbs.content, dbs.logs, ...Object.values(dbs.index)]) used += pagesOf(db.getStats() as DbStats);
  const size = statSync(join(dbs.path, 'data.mdb')).size;
  return Math.max(0, size - used * root.pageSize);
}

/** How long after a change the figure is written (ms). */
const SETTLE_MS = 1000;

export class QueueSpaceReporter {
  #timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly dbs: QueueDbs,
    private readonly queueDirectory: string,
    private readonly log?: Logger,
  ) {}

  /** The queue changed: write the figure soon. */
  changed(): void {
    if (this.#timer) return;
    this.#timer = setTimeout(() => this.write(), SETTLE_MS);
    this.#timer.unref();
  }

  /** Writes the figure now. */
  write(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const file = join(this.queueDirectory, QUEUE_RECLAIMABLE_FILE);
    const tmp = `${file}.${process.pid}`;
    try {
      writeFileSync(tmp, `${reclaimableBytes(this.dbs)}\n`);
      renameSync(tmp, file);
    } catch (err) {
      // a full disk may refuse even this small file: smtpd then counts what it last said
      this.log?.debug(`${QUEUE_RECLAIMABLE_FILE}: ${(err as Error).message}`);
    }
  }

  /** At close: a change not yet written is written now (a short-lived command's delete counts too). */
  stop(): void {
    if (this.#timer) this.write();
  }
}
