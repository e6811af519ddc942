import type { ParameterSpec } from '@postern/core';

export const PARAMETERS: readonly ParameterSpec[] = [
  { name: 'redis_queue_shards', default: '16', type: 'int', description: 'shards the queue is spread over (hash tags); fixed for the life of a queue' },
  { name: 'redis_queue_lease_time', default: '60s', type: 'time', description: 'how long a node holds the messages of its active queue without renewing its lease' },
  { name: 'redis_queue_node_name', default: '$myhostname:$queue_directory', description: 'this node\'s name, the owner of the leases its queue manager takes; unique per node' },
  { name: 'redis_queue_wait_replicas', default: '0', type: 'int', description: 'WAIT for this many replicas after each commit before 250 (0: do not wait)' },
  { name: 'redis_queue_wait_timeout', default: '1s', type: 'time', description: 'time limit of that WAIT; fewer replicas in time fail the commit (451)' },
];
