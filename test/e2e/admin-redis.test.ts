/**
 * The queue administration commands on a Redis queue (queue_backend = redis,
 * a real redis-server): qshape's age histogram and postsuper -e / -f read and
 * change the queue through the queue store contract only, so they work the
 * same as on the LMDB queue.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  backendRegistry,
  createConfigView,
  discoverPlugins,
  openConfiguredQueueStore,
  parameterRegistry,
  parseMainCf,
  processLogger,
  QUEUE,
  type QueueName,
  type QueueStore,
} from '@postern/core';
import { haveRedisServer, startRedisServer, type RedisServerProcess } from '@postern/redis';
import { POSTERN_BIN } from '../lib/instance.js';

const skip = haveRedisServer() ? false : 'redis-server is not installed (Debian: redis-server)';

describe('qshape and postsuper -e/-f on a Redis queue', { skip }, () => {
  let redis: RedisServerProcess;
  let dir: string;
  let conf: string;
  let store: QueueStore;
  const now = Date.now();

  const postern = (...args: string[]) => spawnSync(process.execPath, [POSTERN_BIN, args[0]!, '-c', conf, ...args.slice(1)], { encoding: 'utf8' });

  async function put(queue: QueueName, sender: string, rcpts: string[], ageMinutes: number): Promise<string> {
    const w = store.createWriter();
    w.write(Buffer.from('Subject: redis admin\n\nbody\n'));
    const m = await w.commit({ sender, recipients: rcpts.map((address) => ({ address })), arrivalTime: now - ageMinutes * 60_000 }, queue);
    return m.id;
  }

  before(async () => {
    redis = await startRedisServer({ fsync: 'always' });
    dir = mkdtempSync(join(tmpdir(), 'postern-admin-redis-'));
    conf = join(dir, 'etc');
    const spool = join(dir, 'spool');
    mkdirSync(conf);
    mkdirSync(spool);
    const main = `queue_directory = ${spool}\nqueue_backend = redis\nredis_servers = ${redis.address}\nredis_prefix = admin${process.pid}\nmyhostname = node.example.test\nmaillog_file = ${join(dir, 'maillog')}\n`;
    writeFileSync(join(conf, 'main.cf'), main);
    const plugins = await discoverPlugins();
    const config = createConfigView({ mainCf: parseMainCf(main), registry: parameterRegistry(plugins), configDirectory: conf });
    store = openConfiguredQueueStore(backendRegistry(plugins.plugins), config, processLogger(config, 'test', { stderr: false }));
  });

  after(async () => {
    await store?.close();
    await redis?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('qshape: recipient domains of the deferred queue by age, and -s sender domains', async () => {
    await put(QUEUE.DEFERRED, 'a@example.com', ['x@example.net', 'y@example.net'], 2);
    await put(QUEUE.DEFERRED, 'b@example.com', ['z@example.org'], 30);
    await put(QUEUE.DEFERRED, '', ['w@example.org'], 3000);
    await put(QUEUE.INCOMING, 'c@example.com', ['v@example.net'], 1);
    const r = postern('qshape', 'deferred');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(
      r.stdout,
      [
        '                                         T  5 10 20 40 80 160 320 640 1280 1280+',
        '                                  TOTAL  4  2  0  0  1  0   0   0   0    0     1',
        '                            example.net  2  2  0  0  0  0   0   0   0    0     0',
        '                            example.org  2  0  0  0  1  0   0   0   0    0     1',
        '',
      ].join('\n'),
    );
    const s = postern('qshape', '-s', 'deferred');
    assert.match(s.stdout, /^ +example\.com  2  1  0  0  1 /m);
    assert.match(s.stdout, /^ +MAILER-DAEMON  1  0  0  0  0  0   0   0   0    0     1$/m);
    assert.match(postern('qshape').stdout, /^ +TOTAL  1  1 /m, 'incoming and active by default');
  });

  test('postsuper -e marks a Redis-queued message force-expired; -f also releases it from hold', async () => {
    const deferred = await put(QUEUE.DEFERRED, 'd@example.com', ['e@example.net'], 10);
    const held = await put(QUEUE.HOLD, 'd@example.com', ['f@example.net'], 10);
    const e = postern('super', '-e', deferred);
    assert.equal(e.status, 0, e.stderr);
    assert.equal(e.stderr, `postsuper: ${deferred}: expired\npostsuper: Force-expired: 1 message\n`);
    const d = await store.get(deferred);
    assert.equal(d?.queue, QUEUE.DEFERRED);
    assert.ok(d?.expired !== undefined, 'the expired mark is kept in Redis');
    const f = postern('super', '-f', held);
    assert.equal(f.stderr, `postsuper: ${held}: expired\npostsuper: ${held}: released from hold\npostsuper: Force-expired: 1 message\npostsuper: Released from hold: 1 message\n`);
    const h = await store.get(held);
    assert.equal(h?.queue, QUEUE.DEFERRED);
    assert.ok(h?.expired !== undefined);
  });
});
