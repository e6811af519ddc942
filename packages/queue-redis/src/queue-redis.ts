/**
 * The Redis queue backend as main.cf configures it: the shared engine's
 * connection (redis_servers, redis_cluster, ... of @postern/redis) and the
 * queue's own redis_queue_* parameters.
 */
import type { ConfigView, Logger } from '@postern/core';
import { redisServerOptions } from '@postern/redis';
import { RedisQueueStore } from './queue-redis-store.js';

export function openRedisQueueStore(config: ConfigView, log?: Logger): RedisQueueStore {
  const node = config.get('redis_queue_node_name') || `${config.get('myhostname')}:${config.get('queue_directory')}`;
  return new RedisQueueStore({
    server: redisServerOptions(config, `postern-queue:${node}`),
    prefix: config.get('redis_prefix') || 'postern',
    shards: config.int('redis_queue_shards') || 16,
    node,
    leaseTime: config.time('redis_queue_lease_time') * 1000,
    waitReplicas: config.int('redis_queue_wait_replicas'),
    waitTimeout: config.time('redis_queue_wait_timeout') * 1000,
    messageSizeLimit: config.has('message_size_limit') ? config.size('message_size_limit') : 0,
    log,
  });
}
