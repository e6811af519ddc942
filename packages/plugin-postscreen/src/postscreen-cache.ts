/**
 * The temporary allowlist (postscreen_cache_map): client address -> test
 * expiration times, in a writable table (btree:/lmdb: in Postern, an LMDB
 * file; the file appears with the first write) or in memory when the
 * parameter is empty. Every postscreen_cache_cleanup_interval, entries whose
 * every test expired more than postscreen_cache_retention_time ago are
 * removed (psc_cache_validator), and the cleanup is logged as Postfix's
 * dict_cache does.
 */
import { isPosternError, type Logger, type LookupTable } from '@postern/core';
import { parseStamps, TESTS, type ExpireTimes } from './postscreen-tests.js';

export interface PostscreenCache {
  lookup(address: string): Promise<ExpireTimes | undefined>;
  update(address: string, stamps: string): Promise<void>;
  /** Removes entries expired longer than `retention` seconds before `now`; returns [retained, dropped]. */
  cleanup(now: number, retention: number): Promise<[number, number]>;
  readonly name: string;
}

export class MemoryCache implements PostscreenCache {
  readonly name = 'internal:postscreen';
  private readonly map = new Map<string, string>();
  async lookup(address: string) {
    const v = this.map.get(address);
    return v === undefined ? undefined : parseStamps(v);
  }
  async update(address: string, stamps: string) {
    this.map.set(address, stamps);
  }
  async cleanup(now: number, retention: number): Promise<[number, number]> {
    let kept = 0;
    let dropped = 0;
    for (const [k, v] of this.map) {
      if (expired(v, now, retention)) {
        this.map.delete(k);
        dropped++;
      } else kept++;
    }
    return [kept, dropped];
  }
}

function expired(raw: string, now: number, retention: number): boolean {
  const t = parseStamps(raw);
  return !t || TESTS.every((x) => t[x] < now - retention);
}

export class TableCache implements PostscreenCache {
  private written = false;
  constructor(
    private readonly table: LookupTable,
    private readonly log: Logger,
  ) {
    if (!table.update || !table.delete) throw new Error(`postscreen_cache_map ${table.spec}: the table type cannot be updated`);
  }
  get name() {
    return this.table.spec;
  }
  /** A table file not created yet reads as empty. */
  private async missing<T>(op: () => Promise<T>, empty: T): Promise<T> {
    try {
      return await op();
    } catch (err) {
      if (!this.written && isPosternError(err) && err.code === 'POSTERN_ERR_TABLE_OPEN') return empty;
      throw err;
    }
  }
  async lookup(address: string) {
    try {
      const v = await this.missing(() => this.table.lookup(address), undefined);
      return v === undefined ? undefined : parseStamps(v);
    } catch (err) {
      this.log.warn(`${this.table.spec}: lookup error for ${address}: ${(err as Error).message}`);
      return undefined;
    }
  }
  async update(address: string, stamps: string) {
    try {
      await this.table.update!(address, stamps);
      this.written = true;
    } catch (err) {
      this.log.warn(`${this.table.spec}: update error for ${address}: ${(err as Error).message}`);
    }
  }
  async cleanup(now: number, retention: number): Promise<[number, number]> {
    if (!this.table.entries) return [0, 0];
    const all = await this.missing(async () => {
      const out: (readonly [string, string])[] = [];
      for await (const e of this.table.entries!()) out.push(e);
      return out;
    }, []);
    let dropped = 0;
    for (const [k, v] of all) {
      if (expired(v, now, retention)) {
        await this.table.delete!(k);
        dropped++;
      }
    }
    return [all.length - dropped, dropped];
  }
}
