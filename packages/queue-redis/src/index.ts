/**
 * @postern/queue-redis: the queue store on Redis, for several Postern nodes
 * that form one mail system. A library package (no master.cf command); its
 * plugin declaration adds the `redis` queue backend and its parameters.
 */
import { definePlugin } from '@postern/core';
import { PARAMETERS } from './queue-redis-params.js';
import { openRedisQueueStore } from './queue-redis.js';

export const plugin = definePlugin({
  name: '@postern/queue-redis',
  version: '0.1.0',
  core: '^0.1.0',
  commands: {},
  parameters: PARAMETERS,
  // queue_backend = redis
  backends: { queue: { redis: ({ config, log }) => openRedisQueueStore(config, log) } },
});

export { PARAMETERS } from './queue-redis-params.js';
export { RedisQueueStore, type RedisQueueStoreOptions } from './queue-redis-store.js';
export { QueueKeys, CHUNK_SIZE } from './queue-redis-keys.js';
export { openRedisQueueStore } from './queue-redis.js';
