/**
 * The Redis layout of the queue. Messages are spread over `shards` shards by
 * a hash of their queue ID; every key of a shard carries the hash tag
 * `{<prefix>:<shard>}`, so in a Redis Cluster one message's record, its
 * content, its delivery logs and its shard's queue indexes share one slot,
 * and every change to a message is one atomic script on one node.
 *
 * | key                              | type   | holds                                          |
 * |----------------------------------|--------|------------------------------------------------|
 * | `{P:s}:m:<id>`                   | hash   | the message: env (JSON), queue, size, chunks, done, next, reason, warned, attempts, owner |
 * | `{P:s}:c:<id>`                   | list   | the content, one element per chunk of <= 64 KiB |
 * | `{P:s}:l:<log>:<id>`             | list   | a delivery log (bounce, defer, trace): JSON records |
 * | `{P:s}:q:<queue>`                | zset   | the queue's index: score 0 ordered by ID, deferred by next attempt |
 * | `{P:s}:hb`                       | hash   | lease holders: node name -> lease deadline (ms, Redis clock) |
 *
 * `done` is one character per recipient ("1" finished, "0" not); `owner` is
 * the node whose queue manager holds the message in its active queue.
 */
import { createHash } from 'node:crypto';

/** Content is stored in list elements of this many bytes (the last one may be shorter). */
export const CHUNK_SIZE = 64 * 1024;

export class QueueKeys {
  constructor(
    readonly prefix: string,
    readonly shards: number,
  ) {}

  /** The shard of a queue ID: stable across nodes and restarts. */
  shardOf(id: string): number {
    if (this.shards <= 1) return 0;
    return createHash('sha1').update(id).digest().readUInt32BE(0) % this.shards;
  }

  tag(shard: number): string {
    return `{${this.prefix}:${shard}}`;
  }

  message(id: string): string {
    return `${this.tag(this.shardOf(id))}:m:${id}`;
  }

  content(id: string): string {
    return `${this.tag(this.shardOf(id))}:c:${id}`;
  }

  log(log: string, id: string): string {
    return `${this.tag(this.shardOf(id))}:l:${log}:${id}`;
  }

  /** The index of `queue` in `shard`. */
  queue(shard: number, queue: string): string {
    return `${this.tag(shard)}:q:${queue}`;
  }

  /** The index of `queue` in the shard of `id`. */
  queueOf(id: string, queue: string): string {
    return this.queue(this.shardOf(id), queue);
  }

  leases(shard: number): string {
    return `${this.tag(shard)}:hb`;
  }

  leasesOf(id: string): string {
    return this.leases(this.shardOf(id));
  }
}
