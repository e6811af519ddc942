/**
 * redis_table - Postern `redis:` lookup tables.
 *
 * SYNOPSIS
 *   transport_maps = redis:/etc/postfix/redis-transport.cf
 *   postern map -q example.com redis:/etc/postfix/redis-transport.cf
 *
 * DESCRIPTION
 *   A `redis:` table is named by a configuration file in the style of
 *   Postfix's memcache_table(5) and mysql_table(5): `name = value` lines,
 *   `#` comments, continuation lines starting with white space. A lookup
 *   reads one Redis string (GET prefix+key) or, with `hash`, one field of a
 *   hash (HGET hash prefix+key). The table is writable (update, delete), so it
 *   can also hold a cache Postfix writes: address_verify_map, the TLS session
 *   caches. Any number of nodes may share it.
 *
 * PARAMETERS (file)
 *   hosts (127.0.0.1:6379)  servers: host:port, [v6addr]:port, /path/socket;
 *                           with cluster = yes, some masters of the Cluster.
 *   cluster (no)            the servers are a Redis Cluster.
 *   sentinel_master (empty) the servers are Redis Sentinels watching the
 *                           master of this name; lookups go to the current master.
 *   sentinel_password       the Sentinels' own password.
 *   username, password      AUTH (ACL user and password).
 *   dbid (0)                SELECT index (standalone).
 *   prefix (empty)          prepended to every key written or read.
 *   key_format (%s)         the key, expanded as memcache_table(5): %s the
 *                           whole lookup key, %u its local part, %d its
 *                           domain (no lookup when the key has none), %% a %.
 *   hash (empty)            look up fields of this hash instead of strings.
 *   fold (yes)              lower-case keys before the lookup, as postmap
 *                           does when it builds indexed tables.
 *   ttl (0)                 seconds an entry written by Postern lives (0: for ever).
 *   timeout (10s)           time limit of one command; a lookup that
 *                           fails or times out is a temporary error (the
 *                           caller defers or answers 4xx, as Postfix does for
 *                           DICT_ERR_RETRY), never "not found".
 */
import { readFileSync } from 'node:fs';
import { ioredis } from './ioredis.js';
import { posternError, type LookupTable } from '@postern/core';
import { closeRedis, openRedis, redisErrorText, type RedisClient } from './redis-connection.js';

export interface RedisTableSettings {
  readonly hosts: string[];
  readonly cluster: boolean;
  readonly sentinelMaster: string;
  readonly sentinelPassword: string;
  readonly username: string;
  readonly password: string;
  readonly dbid: number;
  readonly prefix: string;
  readonly keyFormat: string;
  readonly hash: string;
  readonly fold: boolean;
  readonly ttl: number;
  readonly timeout: number;
}

const KNOWN = new Set(['hosts', 'cluster', 'sentinel_master', 'sentinel_password', 'username', 'password', 'dbid', 'prefix', 'key_format', 'hash', 'fold', 'ttl', 'timeout']);

function bool(v: string, name: string, file: string): boolean {
  if (/^(yes|true|1|on)$/i.test(v)) return true;
  if (/^(no|false|0|off)$/i.test(v)) return false;
  throw posternError('POSTERN_ERR_TABLE_SYNTAX', file, 0, `${name}: bad boolean value "${v}"`);
}

function seconds(v: string, name: string, file: string): number {
  const m = /^(\d+)([smhdw]?)$/.exec(v.trim());
  if (!m) throw posternError('POSTERN_ERR_TABLE_SYNTAX', file, 0, `${name}: bad time value "${v}"`);
  return Number(m[1]) * ({ '': 1, s: 1, m: 60, h: 3600, d: 86400, w: 604800 } as Record<string, number>)[m[2]!]!;
}

/** Parses a redis: table file (text given, or read from `file`). */
export function parseRedisTableFile(file: string, text?: string): RedisTableSettings {
  let src: string;
  try {
    src = text ?? readFileSync(file, 'utf8');
  } catch (err) {
    throw posternError('POSTERN_ERR_TABLE_OPEN', `redis:${file}`, (err as Error).message, err);
  }
  const values = new Map<string, string>();
  let last: string | undefined;
  src.split(/\r?\n/).forEach((line, i) => {
    if (/^\s*(#|$)/.test(line)) return;
    if (/^\s/.test(line) && last) {
      values.set(last, `${values.get(last)} ${line.trim()}`);
      return;
    }
    const m = /^([A-Za-z0-9_]+)\s*=\s*(.*?)\s*$/.exec(line);
    if (!m) throw posternError('POSTERN_ERR_TABLE_SYNTAX', file, i + 1, `expected "name = value": ${line.trim()}`);
    if (!KNOWN.has(m[1]!)) throw posternError('POSTERN_ERR_TABLE_SYNTAX', file, i + 1, `unknown parameter "${m[1]}"`);
    values.set(m[1]!, m[2]!);
    last = m[1];
  });
  const get = (n: string, d: string) => values.get(n) ?? d;
  return {
    hosts: get('hosts', '127.0.0.1:6379').split(/[\s,]+/).filter(Boolean),
    cluster: bool(get('cluster', 'no'), 'cluster', file),
    sentinelMaster: get('sentinel_master', ''),
    sentinelPassword: get('sentinel_password', ''),
    username: get('username', ''),
    password: get('password', ''),
    dbid: Number(get('dbid', '0')),
    prefix: get('prefix', ''),
    keyFormat: get('key_format', '%s'),
    hash: get('hash', ''),
    fold: bool(get('fold', 'yes'), 'fold', file),
    ttl: seconds(get('ttl', '0'), 'ttl', file),
    timeout: seconds(get('timeout', '10s'), 'timeout', file),
  };
}

/** memcache_table(5)'s key_format expansion; undefined when %u/%d cannot apply (no lookup). */
export function expandKeyFormat(format: string, key: string): string | undefined {
  const at = key.lastIndexOf('@');
  let out = '';
  for (let i = 0; i < format.length; i++) {
    const c = format[i]!;
    if (c !== '%') {
      out += c;
      continue;
    }
    const n = format[++i];
    if (n === '%') out += '%';
    else if (n === 's') out += key;
    else if (n === 'u') out += at >= 0 ? key.slice(0, at) : key;
    else if (n === 'd') {
      if (at < 0 || at === key.length - 1) return undefined;
      out += key.slice(at + 1);
    } else throw posternError('POSTERN_ERR_TABLE_SYNTAX', 'key_format', 0, `unknown %${n ?? ''} in "${format}"`);
  }
  return out;
}

export class RedisTable implements LookupTable {
  readonly type = 'redis';
  readonly pattern = false;
  readonly settings: RedisTableSettings;
  #client: RedisClient | undefined;

  constructor(
    readonly name: string,
    readonly spec: string,
    settings?: RedisTableSettings,
  ) {
    this.settings = settings ?? parseRedisTableFile(name);
  }

  get client(): RedisClient {
    const s = this.settings;
    this.#client ??= openRedis({
      hosts: s.hosts,
      cluster: s.cluster,
      sentinelMaster: s.sentinelMaster || undefined,
      sentinelPassword: s.sentinelPassword || undefined,
      username: s.username,
      password: s.password,
      database: s.dbid,
      timeout: s.timeout * 1000,
      name: `postern-table:${this.name}`,
    });
    this.#client.on('error', () => undefined);
    return this.#client;
  }

  /** The Redis key (or hash field) for a lookup key, or undefined when key_format rules the lookup out. */
  keyFor(key: string): string | undefined {
    const k = expandKeyFormat(this.settings.keyFormat, this.settings.fold ? key.toLowerCase() : key);
    return k === undefined ? undefined : `${this.settings.prefix}${k}`;
  }

  #fail(op: string, err: unknown): Error {
    return posternError('POSTERN_ERR_TABLE_LOOKUP', this.spec, `${op}: redis: ${redisErrorText(err)}`, err);
  }

  async lookup(key: string): Promise<string | undefined> {
    const k = this.keyFor(key);
    if (k === undefined) return undefined;
    try {
      const v = this.settings.hash ? await this.client.hget(this.settings.hash, k) : await this.client.get(k);
      return v ?? undefined;
    } catch (err) {
      throw this.#fail(`lookup ${key}`, err);
    }
  }

  async update(key: string, value: string): Promise<void> {
    const k = this.keyFor(key);
    if (k === undefined) throw posternError('POSTERN_ERR_TABLE_LOOKUP', this.spec, `key_format does not apply to "${key}"`);
    try {
      if (this.settings.hash) await this.client.hset(this.settings.hash, k, value);
      else if (this.settings.ttl > 0) await this.client.set(k, value, 'EX', this.settings.ttl);
      else await this.client.set(k, value);
    } catch (err) {
      throw this.#fail(`update ${key}`, err);
    }
  }

  async delete(key: string): Promise<boolean> {
    const k = this.keyFor(key);
    if (k === undefined) return false;
    try {
      return (this.settings.hash ? await this.client.hdel(this.settings.hash, k) : await this.client.del(k)) > 0;
    } catch (err) {
      throw this.#fail(`delete ${key}`, err);
    }
  }

  /** postmap -s: every entry under the prefix (SCAN, on every master of a Cluster). */
  async *entries(): AsyncGenerator<readonly [string, string]> {
    const { prefix, hash } = this.settings;
    try {
      if (hash) {
        let cursor = '0';
        do {
          const [next, flat] = await this.client.hscan(hash, cursor, 'MATCH', `${globEscape(prefix)}*`, 'COUNT', 500);
          cursor = next;
          for (let i = 0; i + 1 < flat.length; i += 2) yield [flat[i]!.slice(prefix.length), flat[i + 1]!];
        } while (cursor !== '0');
        return;
      }
      const c = this.client;
      const nodes = c instanceof ioredis().Cluster ? c.nodes('master') : [c];
      for (const n of nodes) {
        let cursor = '0';
        do {
          const [next, keys] = await n.scan(cursor, 'MATCH', `${globEscape(prefix)}*`, 'COUNT', 500);
          cursor = next;
          for (const k of keys) {
            const v = await c.get(k).catch(() => null);
            if (v !== null) yield [k.slice(prefix.length), v];
          }
        } while (cursor !== '0');
      }
    } catch (err) {
      throw this.#fail('entries', err);
    }
  }

  async close(): Promise<void> {
    if (this.#client) await closeRedis(this.#client);
    this.#client = undefined;
  }
}

function globEscape(text: string): string {
  return text.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}

/** The table type for a plugin declaration's `tables`. */
export const redisTableFactory = (name: string, spec: string): LookupTable => new RedisTable(name, spec);
