/**
 * Connections to Redis (standalone, Sentinel or Cluster) through ioredis, set up the
 * way a mail system needs them:
 *
 * - fail fast: a command that cannot be sent within one reconnection attempt,
 *   or gets no answer within `timeout`, rejects; callers turn that into a
 *   4xx reply or a deferral, never into a hang.
 * - no silent re-sends: a command whose connection broke before the answer
 *   is not sent again (autoResendUnfulfilledCommands off), so the caller sees
 *   the failure and nothing is applied twice behind its back.
 * - recover alone: ioredis keeps reconnecting (backing off to 2 s) for as
 *   long as the process lives; the first command after Redis returns works.
 *
 * The same settings come from main.cf (redis_servers, redis_cluster, ...) for
 * the queue and the shared caches, and from a redis_table(5)-style file for
 * `redis:` lookup tables.
 */
import type { Cluster, ClusterNode, Redis, RedisOptions } from 'ioredis';
import { ioredis } from './ioredis.js';
import type { ConfigView } from '@postern/core';

/** Where Redis is and how to talk to it. */
export interface RedisServerOptions {
  /** host:port seeds (a Cluster needs only some of its masters). Unix sockets: a path starting with "/". */
  readonly hosts: readonly string[];
  /** A Redis Cluster: keys are routed by slot; every key of one message carries one hash tag. */
  readonly cluster?: boolean;
  /**
   * Redis Sentinel: the name of the master the Sentinels at `hosts` watch.
   * The client asks them for the current master, and again after a
   * failover; it talks only to a master (role master).
   */
  readonly sentinelMaster?: string;
  /** AUTH password of the Sentinels themselves (requirepass in sentinel.conf). */
  readonly sentinelPassword?: string;
  readonly username?: string;
  readonly password?: string;
  /** SELECT index (standalone only). */
  readonly database?: number;
  /** Milliseconds a command may take before it fails (default 10 s). */
  readonly timeout?: number;
  /** Milliseconds to connect (default 5 s). */
  readonly connectTimeout?: number;
  /** ioredis connectionName (CLIENT LIST shows it). */
  readonly name?: string;
}

export type RedisClient = Redis | Cluster;

/** "host:port", "[v6]:port", "host" or "/path/redis.sock". */
export function parseHost(text: string): { host?: string; port?: number; path?: string } {
  const t = text.trim();
  if (t.startsWith('/') || t.startsWith('unix:')) return { path: t.replace(/^unix:/, '') };
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(t);
  if (v6) return { host: v6[1], port: Number(v6[2] ?? 6379) };
  const colon = t.lastIndexOf(':');
  if (colon > 0) return { host: t.slice(0, colon), port: Number(t.slice(colon + 1)) };
  return { host: t, port: 6379 };
}

function baseOptions(o: RedisServerOptions): RedisOptions {
  return {
    username: o.username || undefined,
    password: o.password || undefined,
    connectTimeout: o.connectTimeout ?? 5000,
    commandTimeout: o.timeout ?? 10_000,
    maxRetriesPerRequest: 1,
    autoResendUnfulfilledCommands: false,
    enableReadyCheck: true,
    // Concurrent commands share round trips (grouped by slot in a Cluster).
    enableAutoPipelining: true,
    connectionName: o.name,
    retryStrategy: (times: number) => Math.min(50 * 2 ** Math.min(times, 6), 2000),
  };
}

/** Opens a client; it connects in the background (commands queue until it is ready, bounded by the timeouts). */
export function openRedis(o: RedisServerOptions): RedisClient {
  if (o.hosts.length === 0) throw new Error('no Redis servers configured');
  if (o.cluster && o.sentinelMaster) throw new Error('a Redis Cluster has no Sentinels: set either the cluster or the Sentinel master name, not both');
  const base = baseOptions(o);
  if (o.cluster) {
    return new (ioredis().Cluster)(
      o.hosts.map((h) => parseHost(h) as ClusterNode),
      {
        redisOptions: base,
        enableOfflineQueue: true,
        enableAutoPipelining: true,
        maxRedirections: 16,
        retryDelayOnFailover: 200,
        retryDelayOnClusterDown: 200,
        clusterRetryStrategy: (times: number) => Math.min(100 * times, 2000),
        slotsRefreshTimeout: o.connectTimeout ?? 5000,
      },
    );
  }
  if (o.sentinelMaster) {
    return new (ioredis().Redis)({
      ...base,
      sentinels: o.hosts.map((h) => parseHost(h) as { host: string; port: number }),
      name: o.sentinelMaster,
      role: 'master',
      sentinelPassword: o.sentinelPassword || undefined,
      // after a failover the old master may still answer for a moment as a replica: reconnect to the new one
      reconnectOnError: (err) => /READONLY/.test(err.message),
      sentinelRetryStrategy: (times: number) => Math.min(100 * times, 1000),
      db: o.database ?? 0,
    });
  }
  const node = parseHost(o.hosts[0]!);
  return new (ioredis().Redis)({ ...base, ...node, db: o.database ?? 0 });
}

/** Closes a client: QUIT when connected, else disconnect at once. */
export async function closeRedis(client: RedisClient): Promise<void> {
  try {
    if (client.status === 'ready') await client.quit();
    else client.disconnect();
  } catch {
    client.disconnect();
  }
}

/** The connection settings main.cf gives the shared engine (redis_servers, ...). */
export function redisServerOptions(config: ConfigView, name?: string): RedisServerOptions {
  return {
    hosts: config.list('redis_servers'),
    cluster: config.bool('redis_cluster'),
    sentinelMaster: config.get('redis_sentinel_master') || undefined,
    sentinelPassword: config.get('redis_sentinel_password') || undefined,
    username: config.get('redis_username'),
    password: config.get('redis_password'),
    database: config.int('redis_database'),
    timeout: config.time('redis_timeout') * 1000,
    connectTimeout: config.time('redis_connect_timeout') * 1000,
    name,
  };
}

/** A short text for a Redis or connection error. */
export function redisErrorText(err: unknown): string {
  const e = err as { message?: string; code?: string } | undefined;
  const text = e?.message ?? String(err);
  return e?.code && !text.includes(e.code) ? `${text} (${e.code})` : text;
}

/**
 * Runs WAIT numreplicas timeout on the connection that holds `key` (a
 * Cluster: the key's master) and fails unless that many replicas
 * acknowledged every write made so far on that connection.
 */
export async function waitReplicas(client: RedisClient, key: string, replicas: number, timeoutMs: number): Promise<void> {
  if (replicas <= 0) return;
  let conn: Redis;
  if (client instanceof ioredis().Cluster) {
    const { default: calculateSlot } = await import('cluster-key-slot');
    const slot = calculateSlot(key);
    const nodeKey = (client as unknown as { slots: string[][] }).slots[slot]?.[0];
    const found = nodeKey ? client.nodes('master').find((n) => `${n.options.host}:${n.options.port}` === nodeKey) : undefined;
    if (!found) throw new Error(`no master known for slot ${slot}`);
    conn = found;
  } else conn = client;
  const acked = Number(await conn.wait(replicas, timeoutMs));
  if (acked < replicas) throw new Error(`WAIT: ${acked} of ${replicas} replica(s) acknowledged within ${timeoutMs} ms`);
}
