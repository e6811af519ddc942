/**
 * Shared state on a real redis-server: anvil counters that two nodes'
 * anvil services share (a limit holds across both; a dead node's
 * connections stop counting after its lease), and flush logs one node
 * writes and another takes exactly once.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { haveRedisServer, openRedis, RedisAnvil, RedisFlushLogs, startRedisServer, type RedisServerProcess } from '../src/index.js';

const skip = haveRedisServer() ? false : 'redis-server not installed (Debian: redis-server)';
let server: RedisServerProcess | undefined;
before(async () => {
  if (!skip) server = await startRedisServer({ fsync: 'off' });
});
after(async () => {
  await server?.stop();
});
const client = () => openRedis({ hosts: [server!.address], timeout: 1000 });

test('anvil: two nodes count one client together; rates reset after the time unit; a dead node stops counting', { skip }, async () => {
  const a = new RedisAnvil(client(), { prefix: 'an1', timeUnit: 400, lease: 600 });
  const b = new RedisAnvil(client(), { prefix: 'an1', timeUnit: 400, lease: 600 });
  try {
    assert.deepEqual(await a.connect('smtp', '192.0.2.1'), { status: 'ok', count: 1, rate: 1 });
    assert.deepEqual(await b.connect('smtp', '192.0.2.1'), { status: 'ok', count: 2, rate: 2 });
    assert.deepEqual(await b.connect('smtp', '192.0.2.9'), { status: 'ok', count: 1, rate: 1 }, 'another client is counted apart');
    assert.equal((await a.message('smtp', '192.0.2.1')).rate, 1);
    assert.equal((await b.message('smtp', '192.0.2.1')).rate, 2);
    assert.equal((await b.recipient('smtp', '192.0.2.1')).rate, 1);
    assert.equal((await a.newtlsReport('smtp', '192.0.2.1')).rate, 0);
    assert.equal(await b.disconnect('smtp', '192.0.2.1'), 'ok');
    const l = await a.lookup('smtp', '192.0.2.1');
    assert.deepEqual(l, { status: 'ok', count: 1, rate: 2, message: 2, recipient: 1, newtls: 0, auth: 0 });
    await new Promise((r) => setTimeout(r, 450));
    assert.deepEqual(await b.connect('smtp', '192.0.2.1'), { status: 'ok', count: 2, rate: 1 }, 'a new rate window');
    // node a dies with its connection open: no renewals; after its lease it no longer counts
    await a.close();
    await new Promise((r) => setTimeout(r, 700));
    assert.equal((await b.lookup('smtp', '192.0.2.1')).count, 1);
  } finally {
    await a.close().catch(() => undefined);
    await b.close();
  }
});

test('anvil: Redis down answers "fail" (smtpd applies no limits, as Postfix does without anvil)', { skip }, async () => {
  const own = await startRedisServer({ fsync: 'off' });
  const a = new RedisAnvil(openRedis({ hosts: [own.address], timeout: 500, connectTimeout: 300 }), { timeUnit: 60_000 });
  try {
    assert.equal((await a.connect('smtp', '1.2.3.4')).status, 'ok');
    await own.kill();
    assert.deepEqual(await a.connect('smtp', '1.2.3.4'), { status: 'fail', count: 0, rate: 0 });
  } finally {
    await a.close();
    await own.stop();
  }
});

test('flush logs: added on one node, taken once on another; entries and remove', { skip }, async () => {
  const a = new RedisFlushLogs(client(), 'fl1');
  const b = new RedisFlushLogs(client(), 'fl1');
  try {
    await a.add('Example.COM', '4SVLCh0sf8z1');
    await a.add('example.com', '4SVLCh0sf8z2');
    await b.add('example.com', '4SVLCh0sf8z2');
    await a.add('other.example', '4SVLCh0sf8z3');
    const sites = new Map<string, number>();
    for await (const e of b.entries()) sites.set(e.site, e.size);
    assert.deepEqual(Object.fromEntries(sites), { 'example.com': 2, 'other.example': 1 });
    const [x, y] = await Promise.all([b.take('example.com'), a.take('example.com')]);
    assert.deepEqual([...x, ...y].sort(), ['4SVLCh0sf8z1', '4SVLCh0sf8z2'], 'each ID released once');
    assert.deepEqual(await a.take('example.com'), []);
    await b.remove('other.example');
    const left: string[] = [];
    for await (const e of a.entries()) left.push(`${e.site}:${e.size}`);
    assert.deepEqual(left, ['example.com:0']);
  } finally {
    await a.close();
    await b.close();
  }
});
