/**
 * @postern/redis: Postern on Redis through ioredis. Connections (standalone
 * or Cluster), the `redis:` lookup table type, and the shared state several
 * nodes need to act as one mail system. A library package: it provides no
 * master.cf command; its plugin declaration adds its parameters and its table type.
 */
import { definePlugin } from '@postern/core';
import { PARAMETERS } from './redis-params.js';
import { redisTableFactory } from './table-redis.js';

export const plugin = definePlugin({
  name: '@postern/redis',
  version: '0.1.0',
  core: '^0.1.0',
  commands: {},
  parameters: PARAMETERS,
  tables: { redis: redisTableFactory },
});

export { PARAMETERS } from './redis-params.js';
export { openRedis, closeRedis, parseHost, redisServerOptions, redisErrorText, waitReplicas } from './redis-connection.js';
export type { RedisClient, RedisServerOptions } from './redis-connection.js';
export { startRedisServer, startRedisCluster, haveRedisServer, freePort } from './redis-servers.js';
export type { RedisServerProcess, RedisClusterProcess, StartRedisOptions } from './redis-servers.js';
export { RedisTable, redisTableFactory, parseRedisTableFile, expandKeyFormat } from './table-redis.js';
export type { RedisTableSettings } from './table-redis.js';
