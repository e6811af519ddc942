/**
 * @postern/redis: Postern on Redis through ioredis. Connections (standalone
 * or Cluster), the `redis:` lookup table type, and the shared state several
 * nodes need to act as one mail system. A library package: it provides no
 * master.cf command; its plugin declaration adds its parameters and its table type.
 */
import { definePlugin } from '@postern/core';
import { PARAMETERS } from './redis-params.js';
import { redisTableFactory } from './table-redis.js';
import { openRedis, redisServerOptions } from './redis-connection.js';
import { RedisAnvil } from './anvil-redis.js';
import { RedisFlushLogs } from './flush-redis.js';

export const plugin = definePlugin({
  name: '@postern/redis',
  version: '0.1.0',
  core: '^0.1.0',
  commands: {},
  parameters: PARAMETERS,
  tables: { redis: redisTableFactory },
  backends: {
    // anvil_backend = redis
    anvil: {
      redis: ({ config, log }) =>
        new RedisAnvil(openRedis(redisServerOptions(config, 'postern-anvil')), {
          prefix: config.get('redis_prefix'),
          timeUnit: config.time('anvil_rate_time_unit') * 1000,
          log,
        }),
    },
    // flush_backend = redis
    flush: { redis: ({ config }) => new RedisFlushLogs(openRedis(redisServerOptions(config, 'postern-flush')), config.get('redis_prefix')) },
  },
});

export { PARAMETERS } from './redis-params.js';
export { openRedis, closeRedis, parseHost, redisServerOptions, redisErrorText, waitReplicas } from './redis-connection.js';
export type { RedisClient, RedisServerOptions } from './redis-connection.js';
export { startRedisServer, startRedisCluster, startRedisSentinel, haveRedisServer, freePort } from './redis-servers.js';
export type { RedisServerProcess, RedisClusterProcess, RedisSentinelProcess, StartRedisOptions } from './redis-servers.js';
export { RedisTable, redisTableFactory, parseRedisTableFile, expandKeyFormat } from './table-redis.js';
export type { RedisTableSettings } from './table-redis.js';
export { RedisAnvil, type RedisAnvilOptions } from './anvil-redis.js';
export { RedisFlushLogs } from './flush-redis.js';
