/**
 * verify(8)'s cache records (verify.c verify_make_entry/verify_parse_entry):
 * "status:probed:updated:text" under the address, with status one of
 * Postfix's DEL_RCPT_STAT_* numbers and probed/updated in seconds since the
 * epoch (0 = never). The store is address_verify_map (a writable table) or,
 * with address_verify_map empty, a Map in memory.
 */
import type { LookupTable } from '@postern/core';
import { isPosternError, posternError } from '@postern/core';

/** DEL_RCPT_STAT_*: what a delivery attempt (or the absence of one) said. */
export const RCPT_STAT = { OK: 0, DEFER: 1, BOUNCE: 2, TODO: 3 } as const;
export type RcptStat = (typeof RCPT_STAT)[keyof typeof RCPT_STAT];

export interface VerifyEntry {
  readonly status: RcptStat;
  /** When the last probe was sent (0: none outstanding). */
  readonly probed: number;
  /** When the status was last set by a probe result (0: never). */
  readonly updated: number;
  readonly text: string;
}

export function formatEntry(e: VerifyEntry): string {
  return `${e.status}:${e.probed}:${e.updated}:${e.text}`;
}

/** Undefined for a malformed record (verify_parse_entry() < 0). */
export function parseEntry(raw: string): VerifyEntry | undefined {
  const m = /^(\d+):(\d+):(\d+):(.*)$/s.exec(raw);
  if (!m) return undefined;
  const status = Number(m[1]);
  if (status !== 0 && status !== 1 && status !== 2 && status !== 3) return undefined;
  return { status, probed: Number(m[2]), updated: Number(m[3]), text: m[4]! };
}

/** The raw record store. */
export interface VerifyStore {
  get(address: string): Promise<string | undefined>;
  put(address: string, raw: string): Promise<void>;
  delete(address: string): Promise<void>;
  entries(): AsyncIterable<readonly [string, string]>;
}

/** address_verify_map empty: "internal:verify", lost at exit. */
export class MemoryVerifyStore implements VerifyStore {
  private readonly map = new Map<string, string>();
  async get(address: string) {
    return this.map.get(address);
  }
  async put(address: string, raw: string) {
    this.map.set(address, raw);
  }
  async delete(address: string) {
    this.map.delete(address);
  }
  async *entries() {
    yield* [...this.map.entries()];
  }
}

/**
 * A writable lookup table (lmdb for btree:/hash: names). Postfix opens the
 * map with O_CREAT; here the file appears with the first write, so until a
 * write has succeeded a table that cannot be opened reads as empty.
 */
export class TableVerifyStore implements VerifyStore {
  private written = false;
  constructor(private readonly table: LookupTable) {
    if (!table.update || !table.delete) throw posternError('POSTERN_ERR_TABLE_READONLY', table.spec);
  }
  private async missing<T>(op: () => Promise<T>, empty: T): Promise<T> {
    try {
      return await op();
    } catch (err) {
      if (!this.written && isPosternError(err) && err.code === 'POSTERN_ERR_TABLE_OPEN') return empty;
      throw err;
    }
  }
  get(address: string) {
    return this.missing(() => this.table.lookup(address), undefined);
  }
  async put(address: string, raw: string) {
    await this.table.update!(address, raw);
    this.written = true;
  }
  async delete(address: string) {
    await this.missing(() => this.table.delete!(address), false);
  }
  async *entries() {
    if (!this.table.entries) return;
    const all = await this.missing(async () => {
      const out: (readonly [string, string])[] = [];
      for await (const e of this.table.entries!()) out.push(e);
      return out;
    }, []);
    yield* all;
  }
}
