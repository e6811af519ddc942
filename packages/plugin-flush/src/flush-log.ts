/**
 * The per-destination fast flush logs: one file per destination under
 * queue_directory/flush/ (as Postfix's), named after the destination in lower
 * case, each line a queue ID of mail deferred for it.
 *
 * Concurrency without locks (Node has no flock): appends are single
 * O_APPEND writes of one short line, which the kernel never interleaves.
 * Taking a log for delivery renames it out of the way first (an atomic
 * rename to `NAME#take.PID.N`), so appends that arrive while it is being
 * processed start a new log instead of being truncated away; the taken file
 * is read and then removed. A taken file left behind by a crash is picked up
 * by the next refresh. The logs are a cache, as in Postfix: a missed entry
 * only means that message waits for its normal retry time.
 */
import { mkdir, readdir, readFile, rename, stat, unlink, appendFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isFlushSite, type FlushLogEntry, type FlushLogStore } from '@postern/core';

/** The directory under queue_directory. */
export const FLUSH_DIR = 'flush';
const TAKE = '#take.';
/** A taken file older than this is a crash leftover. */
const STALE_TAKE_MS = 60_000;


let takeSeq = 0;

export class FlushLogs implements FlushLogStore {
  readonly dir: string;

  constructor(queueDirectory: string) {
    this.dir = join(queueDirectory, FLUSH_DIR);
  }

  private path(site: string): string {
    return join(this.dir, site.toLowerCase());
  }

  /** Appends `queueId` to the log of `site`. */
  async add(site: string, queueId: string): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    await appendFile(this.path(site), `${queueId}\n`, { mode: 0o600 });
  }

  /** Takes the log of `site` away and returns its distinct queue IDs ([] when there is none). */
  async take(site: string): Promise<string[]> {
    const taken = `${this.path(site)}${TAKE}${process.pid}.${++takeSeq}`;
    try {
      await rename(this.path(site), taken);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    return this.consume(taken);
  }

  /** Reads a taken file, removes it, and returns its distinct queue IDs. */
  async consume(file: string): Promise<string[]> {
    const path = file.startsWith(this.dir) ? file : join(this.dir, file);
    const text = await readFile(path, 'utf8');
    await unlink(path).catch(() => undefined);
    return [...new Set(text.split('\n').map((l) => l.trim()).filter(Boolean))];
  }

  /** Every log and leftover taken file, one directory entry at a time. */
  async *entries(): AsyncGenerator<FlushLogEntry> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    for (const file of names) {
      const cut = file.indexOf(TAKE);
      const site = cut >= 0 ? file.slice(0, cut) : file;
      let st;
      try {
        st = await stat(join(this.dir, file));
      } catch {
        continue;
      }
      if (!st.isFile()) continue;
      if (cut >= 0 && Date.now() - st.mtimeMs < STALE_TAKE_MS) continue;
      const born = st.birthtimeMs > 0 ? st.birthtimeMs : st.mtimeMs;
      yield { site, file, size: st.size, mtimeMs: st.mtimeMs, readMs: born, leftover: cut >= 0 };
    }
  }

  /** Removes a log file (purge of an empty log, or a bad name). */
  async remove(file: string): Promise<void> {
    await unlink(join(this.dir, file)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
  }

  /** True when `file` names a valid destination log. */
  static validName(site: string): boolean {
    return isFlushSite(site) && site === site.toLowerCase();
  }
}

