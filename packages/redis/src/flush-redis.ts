/**
 * flush(8)'s fast flush logs in Redis (flush_backend = redis): one set of
 * queue IDs per destination that every node's flush service shares, so
 * ETRN (or `postern queue -s site`) on any node flushes the mail any node
 * deferred for that site. With the Redis queue, the messages it releases
 * are in the shared queue too.
 *
 *   `{P:flush}:sites`         set of sites with a log
 *   `{P:flush}:log:<site>`    set of queue IDs
 *   `{P:flush}:meta:<site>`   hash: mtime (last add), read (last take or creation)
 *
 * take() reads and empties a log in one script, so two nodes flushing one
 * site never both release the same IDs.
 */
import type { FlushLogEntry, FlushLogStore } from '@postern/core';
import { closeRedis, type RedisClient } from './redis-connection.js';

const ADD = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('SADD', KEYS[1], ARGV[2])
redis.call('HSET', KEYS[2], 'mtime', now)
redis.call('HSETNX', KEYS[2], 'read', now)
redis.call('SADD', KEYS[3], ARGV[1])
return 1
`;
const TAKE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ids = redis.call('SMEMBERS', KEYS[1])
redis.call('DEL', KEYS[1])
if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('HSET', KEYS[2], 'read', now) end
return ids
`;

type Scripted = RedisClient & {
  postern_flush_add(log: string, meta: string, sites: string, site: string, id: string): Promise<number>;
  postern_flush_take(log: string, meta: string): Promise<string[]>;
};

export class RedisFlushLogs implements FlushLogStore {
  readonly #redis: Scripted;
  readonly #tag: string;

  constructor(redis: RedisClient, prefix = 'postern') {
    if (!('postern_flush_add' in redis)) redis.defineCommand('postern_flush_add', { numberOfKeys: 3, lua: ADD });
    if (!('postern_flush_take' in redis)) redis.defineCommand('postern_flush_take', { numberOfKeys: 2, lua: TAKE });
    this.#redis = redis as Scripted;
    this.#tag = `{${prefix}:flush}`;
  }

  #keys(site: string) {
    const s = site.toLowerCase();
    return { site: s, log: `${this.#tag}:log:${s}`, meta: `${this.#tag}:meta:${s}` };
  }

  async add(site: string, queueId: string): Promise<void> {
    const k = this.#keys(site);
    await this.#redis.postern_flush_add(k.log, k.meta, `${this.#tag}:sites`, k.site, queueId);
  }

  async take(site: string): Promise<string[]> {
    const k = this.#keys(site);
    return this.#redis.postern_flush_take(k.log, k.meta);
  }

  consume(file: string): Promise<string[]> {
    return this.take(file);
  }

  async *entries(): AsyncGenerator<FlushLogEntry> {
    let cursor = '0';
    do {
      const [next, sites] = await this.#redis.sscan(`${this.#tag}:sites`, cursor, 'COUNT', 200);
      cursor = next;
      for (const site of sites) {
        const k = this.#keys(site);
        const [size, meta] = await Promise.all([this.#redis.scard(k.log), this.#redis.hmget(k.meta, 'mtime', 'read')]);
        const mtimeMs = Number(meta[0] ?? 0);
        yield { site, file: site, size, mtimeMs, readMs: Number(meta[1] ?? mtimeMs), leftover: false };
      }
    } while (cursor !== '0');
  }

  async remove(file: string): Promise<void> {
    const k = this.#keys(file);
    await Promise.all([this.#redis.del(k.log), this.#redis.del(k.meta), this.#redis.srem(`${this.#tag}:sites`, k.site)]);
  }

  async close(): Promise<void> {
    await closeRedis(this.#redis);
  }
}
