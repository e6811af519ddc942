import type { ParameterSpec } from '@postern/core';

/** The shared engine's connection, used by the Redis queue and the shared caches (redis: tables have their own file). */
export const PARAMETERS: readonly ParameterSpec[] = [
  { name: 'redis_servers', default: '127.0.0.1:6379', type: 'list', description: 'Redis servers (host:port, [v6]:port or /path/to/socket); for a Cluster, some of its masters' },
  { name: 'redis_cluster', default: 'no', type: 'bool', description: 'the servers are a Redis Cluster' },
  { name: 'redis_sentinel_master', default: '', description: 'Redis Sentinel: the name of the master the Sentinels in redis_servers watch (empty: redis_servers are Redis servers)' },
  { name: 'redis_sentinel_password', default: '', description: 'Redis Sentinel: the Sentinels\' own password (requirepass in sentinel.conf)' },
  { name: 'redis_username', default: '', description: 'ACL user name (AUTH username password)' },
  { name: 'redis_password', default: '', description: 'password (AUTH)' },
  { name: 'redis_database', default: '0', type: 'int', description: 'database number (standalone only)' },
  { name: 'redis_prefix', default: 'postern', description: 'prefix of every key, so several mail systems can share one Redis' },
  { name: 'redis_timeout', default: '10s', type: 'time', description: 'time limit for one Redis command; past it the operation fails (4xx or deferral)' },
  { name: 'redis_connect_timeout', default: '5s', type: 'time', description: 'time limit for connecting to a Redis server' },
];
