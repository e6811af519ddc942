/**
 * anvil's counters in Redis (anvil_backend = redis): every node's anvil
 * service answers from the same counters, so smtpd_client_connection_count_limit
 * and the rate limits hold for the whole mail system, not per machine.
 *
 * All keys carry the hash tag `{<prefix>:anvil}` (one slot in a Cluster):
 *
 *   `{P:anvil}:procs`        hash: anvil process -> lease deadline (ms)
 *   `{P:anvil}:c:<ident>`    hash: anvil process -> concurrent connections it counted
 *   `{P:anvil}:r:<ident>`    hash: start of the rate window, and the window's
 *                            counts: rate (connections), message, recipient, newtls, auth
 *
 * Connection counts are kept per anvil process, so the connections of a
 * node that died stop counting once its lease (3 status intervals) lapses,
 * as the counts of a restarted Postfix anvil start from zero. Rate windows
 * follow anvil.c: a window opens with a client's first event and every
 * rate resets once anvil_rate_time_unit has passed since. Times come from
 * the Redis server's clock.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { AnvilConnect, AnvilLookup, AnvilRate, AnvilService, AnvilStatus, Logger } from '@postern/core';
import { anvilIdent } from '@postern/core';
import { closeRedis, redisErrorText, type RedisClient } from './redis-connection.js';

const SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local op, proc, unit, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
redis.call('HSET', KEYS[1], proc, now + ttl)
local function count()
  local all = redis.call('HGETALL', KEYS[2])
  local n = 0
  for i = 1, #all, 2 do
    local d = redis.call('HGET', KEYS[1], all[i])
    if d and tonumber(d) > now then n = n + tonumber(all[i + 1]) else redis.call('HDEL', KEYS[2], all[i]) end
  end
  return n
end
local function live()
  local start = redis.call('HGET', KEYS[3], 'start')
  return start and now - tonumber(start) < unit
end
local function window()
  if not live() then
    redis.call('DEL', KEYS[3])
    redis.call('HSET', KEYS[3], 'start', now)
  end
  redis.call('PEXPIRE', KEYS[3], unit * 2)
end
local function get(f)
  if not live() then return 0 end
  return tonumber(redis.call('HGET', KEYS[3], f) or '0')
end
if op == 'renew' then return {0, 0} end
if op == 'connect' then
  redis.call('HINCRBY', KEYS[2], proc, 1)
  redis.call('PEXPIRE', KEYS[2], 86400000)
  window()
  local rate = redis.call('HINCRBY', KEYS[3], 'rate', 1)
  return {count(), rate}
elseif op == 'disconnect' then
  if redis.call('HINCRBY', KEYS[2], proc, -1) <= 0 then redis.call('HDEL', KEYS[2], proc) end
  return {0, 0}
elseif op == 'lookup' then
  return {count(), get('rate'), get('message'), get('recipient'), get('newtls'), get('auth')}
elseif op == 'newtls_report' then
  return {0, get('newtls')}
end
window()
return {0, redis.call('HINCRBY', KEYS[3], op, 1)}
`;

type Scripted = RedisClient & { postern_anvil(procs: string, c: string, r: string, ...argv: (string | number)[]): Promise<number[]> };

export interface RedisAnvilOptions {
  readonly prefix?: string;
  /** anvil_rate_time_unit in ms. */
  readonly timeUnit: number;
  /** How long this process's connection counts live without a request or renewal (ms, default 60 s). */
  readonly lease?: number;
  readonly log?: Logger;
}

/** The AnvilService contract on Redis; like the remote stub, it answers "fail" (no limits) when Redis fails. */
export class RedisAnvil implements AnvilService {
  readonly proc = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  readonly #redis: Scripted;
  readonly #tag: string;
  readonly #lease: number;
  readonly #timer: NodeJS.Timeout;
  #warned = false;

  constructor(
    redis: RedisClient,
    private readonly options: RedisAnvilOptions,
  ) {
    if (!('postern_anvil' in redis)) redis.defineCommand('postern_anvil', { numberOfKeys: 3, lua: SCRIPT });
    this.#redis = redis as Scripted;
    this.#tag = `{${options.prefix ?? 'postern'}:anvil}`;
    this.#lease = options.lease ?? 60_000;
    this.#timer = setInterval(() => void this.#call('renew', 'renew', '-').catch(() => undefined), Math.max(100, Math.floor(this.#lease / 3)));
    this.#timer.unref();
  }

  async #call(op: string, service: string, client: string): Promise<number[] | null> {
    const ident = anvilIdent(service, client);
    try {
      const out = await this.#redis.postern_anvil(`${this.#tag}:procs`, `${this.#tag}:c:${ident}`, `${this.#tag}:r:${ident}`, op, this.proc, this.options.timeUnit, this.#lease);
      this.#warned = false;
      return out.map(Number);
    } catch (err) {
      if (!this.#warned) this.options.log?.warn(`anvil: redis: ${redisErrorText(err)}; no limits are applied until it answers`);
      this.#warned = true;
      return null;
    }
  }

  async #rate(op: string, service: string, client: string): Promise<AnvilRate> {
    const a = await this.#call(op, service, client);
    return a ? { status: 'ok', rate: a[1]! } : { status: 'fail', rate: 0 };
  }

  async connect(service: string, client: string): Promise<AnvilConnect> {
    const a = await this.#call('connect', service, client);
    return a ? { status: 'ok', count: a[0]!, rate: a[1]! } : { status: 'fail', count: 0, rate: 0 };
  }
  async disconnect(service: string, client: string): Promise<AnvilStatus> {
    return (await this.#call('disconnect', service, client)) ? 'ok' : 'fail';
  }
  message(service: string, client: string) {
    return this.#rate('message', service, client);
  }
  recipient(service: string, client: string) {
    return this.#rate('recipient', service, client);
  }
  newtls(service: string, client: string) {
    return this.#rate('newtls', service, client);
  }
  newtlsReport(service: string, client: string) {
    return this.#rate('newtls_report', service, client);
  }
  auth(service: string, client: string) {
    return this.#rate('auth', service, client);
  }
  async lookup(service: string, client: string): Promise<AnvilLookup> {
    const a = await this.#call('lookup', service, client);
    if (!a) return { status: 'fail', count: 0, rate: 0, message: 0, recipient: 0, newtls: 0, auth: 0 };
    const [count, rate, message, recipient, newtls, auth] = a as [number, number, number, number, number, number];
    return { status: 'ok', count, rate, message, recipient, newtls, auth };
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    await closeRedis(this.#redis);
  }
}
