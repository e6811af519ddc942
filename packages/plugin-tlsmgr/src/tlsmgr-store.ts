/**
 * tlsmgr's session caches (Postfix's tls_scache.c): one per program (smtpd,
 * smtp, lmtp), each either an LMDB file (<program>_tls_session_cache_database
 * set) or a map in tlsmgr's memory (the parameter empty). Entries carry their
 * expiry time; a lookup never returns an expired entry and sweep() removes
 * them.
 */
import { mkdirSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { open, type RootDatabase } from 'lmdb';
import { MemoryTlsStore, tlsCacheParameters, type TlsCacheType } from '@postern/smtp-client';
import { type ConfigView } from '@postern/core';

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
  get(id: string, now?: number): Buffer | undefined;
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

  get(id: string, now = Date.now()): Buffer | undefined {
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
  get(id: string, now?: number): Buffer | undefined {
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

/** Opens the cache of one program as its parameters say. */
export function openTlsStore(config: ConfigView, type: TlsCacheType): TlsStore {
  const { database, timeout } = tlsCacheParameters(config, type);
  const ttl = timeout * 1000;
  if (!database) return new MemoryStore(type, ttl);
  const path = cacheDatabasePath(database, config.get('data_directory'));
  mkdirSync(dirname(path), { recursive: true });
  const db = open<StoredSession, string>({ path, compression: false });
  return new LmdbTlsStore(type, ttl, path, db);
}
