/**
 * Redis Sentinel against real processes: a master, its replica and a
 * Sentinel on loopback. A redis: table and the main.cf connection
 * (redis_sentinel_master) find the master through the Sentinel, and find
 * the promoted replica after the master dies.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { closeRedis, haveRedisServer, openRedis, RedisTable, startRedisSentinel, type RedisSentinelProcess } from '../src/index.js';

const skip = haveRedisServer() ? false : 'redis-server not installed (Debian: redis-server)';
let sentinel: RedisSentinelProcess | undefined;
const dir = mkdtempSync(join(tmpdir(), 'postern-redis-sentinel-'));

before(async () => {
  if (!skip) sentinel = await startRedisSentinel();
});
after(async () => {
  await sentinel?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('cluster and Sentinel together are refused', () => {
  assert.throws(() => openRedis({ hosts: ['127.0.0.1:1'], cluster: true, sentinelMaster: 'm' }), /either the cluster or the Sentinel/);
});

test('a redis: table with sentinel_master reads and writes the current master, before and after a failover', { skip }, async () => {
  const s = sentinel!;
  const cf = join(dir, 'sentinel.cf');
  writeFileSync(cf, `hosts = ${s.hosts.join(', ')}\nsentinel_master = ${s.masterName}\nprefix = t:\ntimeout = 2s\n`);
  const table = new RedisTable(cf, `redis:${cf}`);
  const direct = openRedis({ hosts: s.hosts, sentinelMaster: s.masterName });
  direct.on('error', () => undefined);
  try {
    await table.update('before.example', 'smtp:[one.example]');
    assert.equal(await table.lookup('before.example'), 'smtp:[one.example]');
    const first = await s.currentMaster();
    const promoted = await s.failover();
    assert.notEqual(promoted, first);
    // the client finds the new master by itself; the replica had the entry written before
    let value: string | undefined;
    for (const until = Date.now() + 20_000; ; ) {
      value = await table.lookup('before.example').catch(() => undefined);
      if (value !== undefined || Date.now() > until) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal(value, 'smtp:[one.example]', 'the entry written before the failover is on the promoted replica');
    await table.update('after.example', 'smtp:[two.example]');
    assert.equal(await table.lookup('after.example'), 'smtp:[two.example]');
    assert.equal(await direct.get('t:after.example'), 'smtp:[two.example]', 'a main.cf-style connection sees the same master');
    assert.equal((await direct.role())[0], 'master');
  } finally {
    await table.close();
    await closeRedis(direct);
  }
});
