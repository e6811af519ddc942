/**
 * tlsmgr's session caches (Postfix's tls_scache.c): one per program (smtpd,
 * smtp, lmtp), each an LMDB file (<program>_tls_session_cache_database
 * names a btree:/hash:/lmdb: file or a bare path), a writable lookup table of
 * another type (e.g. redis:/etc/postfix/redis-tls.cf, shared by every node
 * that names it: a session resumes on another machine), or a map in
 * tlsmgr's memory (the parameter empty). Entries carry their expiry time; a
 * lookup never returns an expired entry and sweep() removes them.
 */
import { mkdirSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { open, type RootDatabase } from 'lmdb';
import { LMDB_ALIAS_TYPES, splitTableSpec, type ConfigView, type LookupTable, type TableRegistry } from '@postern/core';
import { MemoryTlsStore, tlsCacheParameters } from '@postern/smtp-client';
import type { TlsCacheType } from '@postern/core';

interface StoredSession {
  readonly expires: number;
  readonly data: Buffer;
}

export interface TlsStore {
  readonly type: TlsCacheType;
  /** Milliseconds an entry lives (0: caching disabled). */
  readonly ttl: number;
  /** Where it is kept: the LMDB path or "memory". */
  readonly where: string;
  get(id: string, now?: number): Promise<Buffer | undefined>;
  put(id: string, data: Buffer, now?: number): Promise<void>;
  delete(id: string): Promise<void>;
  sweep(now?: number): Promise<number>;
  close(): Promise<void>;
}

/** The file a database parameter names: "type:path" or "path"; relative to data_directory. */
export function cacheDatabasePath(value: string, dataDirectory: string): string {
  const colon = value.indexOf(':');
  const path = colon > 0 && !/^[a-z]:[\\/]/i.test(value) ? value.slice(colon + 1) : value;
  return isAbsolute(path) ? `${path}.lmdb` : join(dataDirectory, `${path}.lmdb`);
}

class LmdbTlsStore implements TlsStore {
  constructor(
    readonly type: TlsCacheType,
    readonly ttl: number,
    readonly where: string,
    private readonly db: RootDatabase<StoredSession, string>,
  ) {}

  async get(id: string, now = Date.now()): Promise<Buffer | undefined> {
    const e = this.db.get(id);
    if (!e || e.expires <= now) return undefined;
    return Buffer.from(e.data);
  }

  async put(id: string, data: Buffer, now = Date.now()): Promise<void> {
    if (this.ttl > 0) await this.db.put(id, { expires: now + this.ttl, data });
  }

  async delete(id: string): Promise<void> {
    await this.db.remove(id);
  }

  async sweep(now = Date.now()): Promise<number> {
    const dead: string[] = [];
    for (const { key, value } of this.db.getRange()) if (value.expires <= now) dead.push(key);
    await this.db.transaction(() => {
      for (const k of dead) void this.db.remove(k);
    });
    return dead.length;
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}

class MemoryStore implements TlsStore {
  private readonly m = new MemoryTlsStore();
  readonly where = 'memory';
  constructor(
    readonly type: TlsCacheType,
    readonly ttl: number,
  ) {}
  async get(id: string, now?: number): Promise<Buffer | undefined> {
    return this.m.get(id, now);
  }
  async put(id: string, data: Buffer, now?: number): Promise<void> {
    if (this.ttl > 0) this.m.put(id, data, this.ttl, now);
  }
  async delete(id: string): Promise<void> {
    this.m.delete(id);
  }
  async sweep(now?: number): Promise<number> {
    return this.m.sweep(now);
  }
  async close(): Promise<void> {}
}

/**
 * A writable lookup table (redis:, ...): values are "expires:base64", so an
 * entry carries its expiry to every node that reads it. The table itself
 * may expire entries earlier (a redis: table's ttl); it never keeps them
 * longer than a lookup honours.
 */
export class TableTlsStore implements TlsStore {
  readonly where: string;
  constructor(
    readonly type: TlsCacheType,
    readonly ttl: number,
    private readonly table: LookupTable,
  ) {
    this.where = table.spec;
  }

  async get(id: string, now = Date.now()): Promise<Buffer | undefined> {
    const raw = await this.table.lookup(id);
    const colon = raw?.indexOf(':') ?? -1;
    if (!raw || colon < 0 || Number(raw.slice(0, colon)) <= now) return undefined;
    return Buffer.from(raw.slice(colon + 1), 'base64');
  }

  async put(id: string, data: Buffer, now = Date.now()): Promise<void> {
    if (this.ttl > 0) await this.table.update!(id, `${now + this.ttl}:${data.toString('base64')}`);
  }

  /** Stores an entry that lives until `expires` (ms), whatever the cache timeout. */
  async putUntil(id: string, data: Buffer, expires: number): Promise<void> {
    await this.table.update!(id, `${expires}:${data.toString('base64')}`);
  }

  /** When the entry expires (ms), if there is one. */
  async expiry(id: string): Promise<number | undefined> {
    const raw = await this.table.lookup(id);
    const colon = raw?.indexOf(':') ?? -1;
    return raw && colon > 0 ? Number(raw.slice(0, colon)) : undefined;
  }

  async delete(id: string): Promise<void> {
    await this.table.delete!(id);
  }

  async sweep(now = Date.now()): Promise<number> {
    if (!this.table.entries) return 0;
    const dead: string[] = [];
    for await (const [k, v] of this.table.entries()) if (Number(v.slice(0, v.indexOf(':'))) <= now) dead.push(k);
    for (const k of dead) await this.table.delete!(k);
    return dead.length;
  }

  async close(): Promise<void> {}
}

/** Opens the cache of one program as its parameters say. */
export function openTlsStore(config: ConfigView, type: TlsCacheType, tables?: TableRegistry): TlsStore {
  const { database, timeout } = tlsCacheParameters(config, type);
  const ttl = timeout * 1000;
  if (!database) return new MemoryStore(type, ttl);
  const spec = splitTableSpec(database);
  if (tables && spec && spec.type !== 'lmdb' && !LMDB_ALIAS_TYPES.includes(spec.type) && tables.types().includes(spec.type)) {
    const table = tables.open(database);
    if (table.update && table.delete) return new TableTlsStore(type, ttl, table);
  }
  const path = cacheDatabasePath(database, config.get('data_directory'));
  mkdirSync(dirname(path), { recursive: true });
  const db = open<StoredSession, string>({ path, compression: false });
  return new LmdbTlsStore(type, ttl, path, db);
}
