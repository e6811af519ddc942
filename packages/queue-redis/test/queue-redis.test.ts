/**
 * The Redis queue store against real redis-server processes on loopback:
 * the QueueStore contract on a standalone server and on a 3-master Redis
 * Cluster, then what only a shared queue has: leases between nodes, their
 * expiry, durability across a SIGKILL of Redis, and failure while Redis is down.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { QUEUE, type QueueStore } from '@postern/core';
import { haveRedisServer, startRedisCluster, startRedisServer, type RedisClusterProcess, type RedisServerProcess } from '@postern/redis';
import { RedisQueueStore, type RedisQueueStoreOptions } from '../src/index.js';
import { collect, envelope, queueStoreContract, rejectsWith } from './queue-store-contract.js';

const skip = haveRedisServer(true) ? false : 'redis-server/redis-cli not installed (Debian: redis-server, redis-tools)';
let standalone: RedisServerProcess | undefined;
let cluster: RedisClusterProcess | undefined;

before(async () => {
  if (skip) return;
  standalone = await startRedisServer();
  cluster = await startRedisCluster(3);
});
after(async () => {
  await standalone?.stop();
  await cluster?.stop();
});

let seq = 0;
function targetOn(hosts: () => readonly string[], isCluster: boolean) {
  let prefix = '';
  return () => ({
    chunkSize: 65536,
    open({ fresh, messageSizeLimit }: { fresh: boolean; messageSizeLimit?: number }): QueueStore {
      if (fresh) prefix = `t${process.pid}x${++seq}`;
      return new RedisQueueStore({ server: { hosts: hosts(), cluster: isCluster, timeout: 5000 }, prefix, shards: 8, node: 'test-node', messageSizeLimit });
    },
  });
}

if (!skip) {
  queueStoreContract('standalone', targetOn(() => [standalone!.address], false));
  queueStoreContract('cluster', targetOn(() => cluster!.hosts, true));
} else test('redis queue store', { skip }, () => undefined);

function node(name: string, prefix: string, extra: Partial<RedisQueueStoreOptions> = {}): RedisQueueStore {
  return new RedisQueueStore({ server: { hosts: [standalone!.address], timeout: 2000 }, prefix, shards: 4, node: name, leaseTime: 600, ...extra });
}

async function commitOne(store: QueueStore, text = 'hello'): Promise<string> {
  const w = store.createWriter();
  w.write(Buffer.from(text));
  return (await w.commit(envelope())).id;
}

test('leases: a message one node holds in active is neither taken nor requeued by another; after the lease expires it returns', { skip }, async () => {
  const prefix = `lease${process.pid}`;
  const a = node('node-a', prefix);
  const b = node('node-b', prefix);
  try {
    const id = await commitOne(a);
    const [ta, tb] = await Promise.all([a.move(id, QUEUE.ACTIVE), b.move(id, QUEUE.ACTIVE)]);
    assert.equal([ta, tb].filter(Boolean).length, 1, 'exactly one node takes the message');
    const holder = ta ? a : b;
    const other = ta ? b : a;
    assert.equal(await other.move(id, QUEUE.INCOMING), undefined, 'the other node cannot send it back to incoming (its qmgr start-up recovery)');
    assert.equal(await other.move(id, QUEUE.ACTIVE), undefined);
    // The holder's own restart recovery works (same node name, new process).
    const again = node(holder.node, prefix);
    assert.equal((await again.move(id, QUEUE.INCOMING))?.queue, QUEUE.INCOMING);
    await again.close();
    assert.equal((await holder.move(id, QUEUE.ACTIVE))?.queue, QUEUE.ACTIVE);
    // The holder dies: nothing renews its lease. The other node's reaper returns the message.
    await holder.close();
    let woke = 0;
    const off = other.onForeignWork(() => woke++);
    assert.equal(await other.reap(), 0, 'not while the lease lives');
    // The reaper (every lease/3 once subscribed) returns it within a lease and a third.
    await new Promise((r) => setTimeout(r, 1000));
    off();
    assert.ok(woke >= 1, 'the queue manager is told');
    assert.equal((await other.get(id))?.queue, QUEUE.INCOMING);
    assert.equal((await other.move(id, QUEUE.ACTIVE))?.queue, QUEUE.ACTIVE);
  } finally {
    await a.close();
    await b.close();
  }
});

test('a live node keeps its lease beyond the lease time by renewing it', { skip }, async () => {
  const prefix = `renew${process.pid}`;
  const a = node('node-a', prefix);
  const b = node('node-b', prefix);
  try {
    const id = await commitOne(a);
    assert.ok(await a.move(id, QUEUE.ACTIVE));
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(await b.reap(), 0);
    assert.equal(await b.move(id, QUEUE.ACTIVE), undefined);
  } finally {
    await a.close();
    await b.close();
  }
});

test('100 concurrent takes of 50 messages by two nodes: each message taken exactly once', { skip }, async () => {
  const prefix = `race${process.pid}`;
  const a = node('node-a', prefix, { leaseTime: 60_000 });
  const b = node('node-b', prefix, { leaseTime: 60_000 });
  try {
    const ids = await Promise.all(Array.from({ length: 50 }, () => commitOne(a)));
    const taken = await Promise.all(ids.flatMap((id) => [a.move(id, QUEUE.ACTIVE), b.move(id, QUEUE.ACTIVE)]));
    assert.equal(taken.filter(Boolean).length, 50);
  } finally {
    await a.close();
    await b.close();
  }
});

test('a 10 MB message is stored as 64 KiB list elements and reads back intact', { skip }, async () => {
  const store = node('big', `big${process.pid}`);
  try {
    const content = randomBytes(10 * 1024 * 1024);
    const w = store.createWriter();
    for (let at = 0; at < content.length; at += 8192) w.write(content.subarray(at, at + 8192));
    const m = await w.commit(envelope());
    const key = store.keys.content(m.id);
    assert.equal(await store.client.llen(key), 160);
    assert.equal(await store.client.strlen(store.keys.message(m.id)).catch(() => -1), -1, 'the record is a hash, not one value');
    const back = Buffer.concat(await collect(store.readContent(m.id)));
    assert.ok(back.equals(content));
  } finally {
    await store.close();
  }
});

test('acknowledged commits survive a SIGKILL of redis-server (appendfsync always)', { skip }, async () => {
  const server = await startRedisServer({ fsync: 'always' });
  const store = new RedisQueueStore({ server: { hosts: [server.address], timeout: 2000 }, prefix: 'dur', node: 'n' });
  try {
    const ids = await Promise.all(Array.from({ length: 200 }, (_, i) => commitOne(store, `durable ${i}`)));
    await server.restart();
    const again = new RedisQueueStore({ server: { hosts: [server.address], timeout: 2000 }, prefix: 'dur', node: 'n' });
    try {
      assert.equal(await again.count(QUEUE.INCOMING), 200);
      assert.equal(Buffer.concat(await collect(again.readContent(ids[7]!))).toString(), 'durable 7');
    } finally {
      await again.close();
    }
  } finally {
    await store.close();
    await server.stop();
  }
});

test('Redis down: commits fail with a queue write error (smtpd says 451), and work again by themselves when Redis is back', { skip }, async () => {
  const server = await startRedisServer();
  const store = new RedisQueueStore({ server: { hosts: [server.address], timeout: 1000, connectTimeout: 500 }, prefix: 'down', node: 'n' });
  try {
    await commitOne(store);
    await server.kill();
    await assert.rejects(commitOne(store), rejectsWith('POSTERN_ERR_QUEUE_WRITE'));
    await assert.rejects(store.move('4SVLCh0sf8z1', QUEUE.ACTIVE), rejectsWith('POSTERN_ERR_QUEUE_WRITE'));
    await server.restart();
    let id: string | undefined;
    for (let i = 0; i < 50 && !id; i++) {
      id = await commitOne(store, 'after').catch(() => undefined);
      if (!id) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(id, 'the store reconnected on its own');
    assert.equal(await store.count(QUEUE.INCOMING), 2, 'the message acknowledged before the outage is still there');
  } finally {
    await store.close();
    await server.stop();
  }
});

test('WAIT: a commit that asks for a replica no one provides fails instead of answering 250', { skip }, async () => {
  const store = node('w', `wait${process.pid}`, { waitReplicas: 1, waitTimeout: 200 });
  try {
    await assert.rejects(commitOne(store), (err: unknown) => rejectsWith('POSTERN_ERR_QUEUE_WRITE')(err) && /WAIT/.test(String(err)));
  } finally {
    await store.close();
  }
});
