/**
 * What several Postern nodes share through Redis besides the queue, and
 * how they live through Redis failing, end to end with real redis-server
 * processes:
 *
 * - the verify(8) cache (address_verify_map = redis:...): a probe result
 *   that node A found answers RCPT on node B without a second probe;
 * - the flush(8) logs (flush_backend = redis): mail node A deferred for a
 *   site is delivered when a client sends ETRN for that site to node B;
 * - Redis killed while deliveries are under way, and back after a few
 *   seconds: every acknowledged message is delivered, duplicates only for
 *   what was in flight;
 * - Redis Sentinel (redis_sentinel_master): the master dies during a load,
 *   the Sentinel promotes its replica, and the node goes on by itself; with
 *   redis_queue_wait_replicas = 1 nothing acknowledged is lost.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { haveRedisServer, startRedisSentinel, startRedisServer, type RedisSentinelProcess, type RedisServerProcess } from '@postern/redis';
import { freePort } from '../lib/instance.js';
import { RedisNode, seqMessage, sendMessage, startRecordingSink, until, type RecordingSink } from '../lib/redis-nodes.js';

const skip = haveRedisServer() ? false : 'redis-server is not installed (Debian: redis-server)';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One SMTP session up to `command` (RCPT or ETRN); resolves with the reply to it. */
function ask(host: string, port: number, command: string): Promise<string> {
  return new Promise((resolve) => {
    const s = connect({ port, host });
    const script = command.startsWith('ETRN') ? ['EHLO client.test', command] : ['EHLO client.test', 'MAIL FROM:<probe-test@client.test>', command];
    let step = 0;
    let buf = '';
    const finish = (r: string) => {
      s.end('QUIT\r\n');
      resolve(r);
    };
    s.setTimeout(60_000, () => finish('timeout'));
    s.on('data', (chunk) => {
      buf += chunk.toString('latin1');
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl).trimEnd();
        buf = buf.slice(nl + 1);
        if (line[3] === '-') continue;
        if (step === script.length) return finish(line);
        if (!line.startsWith('2')) return finish(line);
        s.write(`${script[step++]}\r\n`);
      }
    });
    s.on('error', (err) => resolve(`error ${err.message}`));
  });
}

/** The load of the kill tests: `count` messages over 10 sessions at a time, each retried until acknowledged. */
async function load(node: () => RedisNode, port: number, first: number, count: number, size: number): Promise<Set<number>> {
  const acked = new Set<number>();
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const n = first + ++next;
      for (const end = Date.now() + 90_000; Date.now() < end; await sleep(300)) {
        if ((await sendMessage(node().host, port, seqMessage(n, size))).startsWith('250 ')) {
          acked.add(n);
          break;
        }
      }
    }
  };
  await Promise.all(Array.from({ length: 10 }, () => worker()));
  return acked;
}

describe('two nodes share the verify cache and the flush logs through Redis; Redis dies mid-delivery', { skip }, () => {
  let redis: RedisServerProcess;
  let sink: RecordingSink;
  let etrnPort: number;
  let a: RedisNode;
  let b: RedisNode;
  let port: number;

  before(async () => {
    redis = await startRedisServer({ fsync: 'always' });
    sink = await startRecordingSink(20, { rejectRcpt: /^nouser@/ });
    etrnPort = await freePort();
    port = await freePort();
    const prefix = `shared${process.pid}`;
    const make = (index: number) => {
      const node = new RedisNode({ redis: redis.address, prefix, sinkPort: sink.port, smtpPort: port, index, extraMaster: 'verify unix - - n - 1 verify\n' });
      const verifyCf = join(node.inst.configDir, 'redis-verify.cf');
      writeFileSync(verifyCf, `hosts = ${redis.address}\nprefix = ${prefix}:verify:\n`);
      node.setMain({
        relay_domains: 'etrn.example',
        transport_maps: `inline:{ etrn.example=smtp:[127.0.0.1]:${etrnPort} }`,
        smtpd_recipient_restrictions: 'check_recipient_access inline:{ etrn.example=OK }, reject_unverified_recipient, permit_mynetworks, reject_unauth_destination',
        address_verify_map: `redis:${verifyCf}`,
        address_verify_poll_count: '3',
        address_verify_poll_delay: '1s',
        // only ETRN can bring the deferred mail out within the test
        minimal_backoff_time: '1h',
        maximal_backoff_time: '2h',
        queue_run_delay: '1h',
      });
      return node;
    };
    a = make(4);
    b = make(5);
    await a.inst.start();
    await b.inst.start();
  });

  after(async () => {
    await a?.inst.dispose();
    await b?.inst.dispose();
    await sink?.close();
    await redis?.stop();
  });

  test('verify: node B answers RCPT from the probe node A made, without probing again', async () => {
    let onA = '';
    await until('the probe result on node A', async () => !/verification in progress/i.test((onA = await ask(a.host, port, 'RCPT TO:<nouser@remote.test>'))), 30_000);
    // unverified_recipient_reject_code is 450 by default, as in Postfix
    assert.match(onA, /^450 4\.1\.1 <nouser@remote\.test>: Recipient address rejected: unverified address: host 127\.0\.0\.1\[127\.0\.0\.1\] said: 550 5\.1\.1 /);
    const probes = sink.rcpts.filter((r) => r === 'nouser@remote.test').length;
    assert.ok(probes >= 1, 'node A probed the next hop');
    const onB = await ask(b.host, port, 'RCPT TO:<nouser@remote.test>');
    assert.equal(onB, onA, 'the first answer on node B is the cached one');
    await sleep(1000);
    assert.equal(sink.rcpts.filter((r) => r === 'nouser@remote.test').length, probes, 'node B sent no probe of its own');
  });

  test('flush: mail deferred by node A for a site goes out on ETRN to node B', async () => {
    const r = await sendMessage(a.host, port, seqMessage(900_001, 1000), undefined, 'user@etrn.example');
    assert.match(r, /^250 /);
    await a.inst.waitForLog(/to=<user@etrn\.example>, relay=none, .*status=deferred/, 30_000);
    // ETRN flushes the deferred queue: wait until qmgr has moved the message there (the listing shows its reason)
    let listed = '';
    await until('the message in the deferred queue', async () => /^\s+\(connect to 127\.0\.0\.1\[127\.0\.0\.1\]:\d+: Connection refused\)$/m.test((listed = (await a.inst.postern(['queue', '-p'])).stdout)), 30_000).catch(() => assert.fail(listed));
    const site = await startRecordingSink(0, { port: etrnPort });
    try {
      assert.equal(await ask(b.host, port, 'ETRN etrn.example'), '250 Queuing started');
      await until('the flushed message at the site', () => site.seen.get(900_001) === 1, 30_000);
    } finally {
      await site.close();
    }
  });

  test('Redis killed during deliveries and back 3 s later: every acknowledged message delivered, duplicates only in flight', async () => {
    // a delivery agent that cannot read its message while Redis is down defers it, as Postfix's does
    // with a queue file it cannot read; short back-off times bring it back within the test
    for (const n of [a, b]) {
      n.setMain({ minimal_backoff_time: '2s', maximal_backoff_time: '4s', queue_run_delay: '2s' });
      assert.equal((await n.inst.postern(['reload'])).code, 0);
    }
    await sleep(1000);
    const first = 1000;
    const count = 80;
    const acked = new Set<number>();
    for (let i = 1; i <= count; i++) {
      let r = '';
      for (let tries = 0; tries < 5 && !r.startsWith('250 '); tries++) r = await sendMessage(i % 2 ? a.host : b.host, port, seqMessage(first + i, 4000));
      assert.match(r, /^250 /);
      acked.add(first + i);
    }
    await until('deliveries under way', () => [...acked].some((n) => sink.seen.has(n)), 30_000);
    await redis.kill();
    await sleep(3000);
    await redis.restart();
    await until(`all ${count} acknowledged messages delivered after Redis returned`, () => [...acked].every((n) => (sink.seen.get(n) ?? 0) >= 1), 120_000);
    const duplicates = [...acked].filter((n) => (sink.seen.get(n) ?? 0) > 1).length;
    console.log(`# redis down mid-delivery: ${count} acknowledged, ${count} delivered, ${duplicates} duplicated`);
    assert.ok(duplicates <= 40, `${duplicates} duplicates, more than the two nodes' 20 + 20 deliveries in flight`);
  });
});

describe('Redis Sentinel: the master dies during a load and its replica takes over', { skip }, () => {
  let sentinel: RedisSentinelProcess;
  let sink: RecordingSink;
  let node: RedisNode;
  let port: number;

  before(async () => {
    sentinel = await startRedisSentinel();
    sink = await startRecordingSink(5);
    port = await freePort();
    node = new RedisNode({
      redis: sentinel.hosts.join(', '),
      prefix: `sentinel${process.pid}`,
      sinkPort: sink.port,
      smtpPort: port,
      index: 6,
      main: {
        redis_sentinel_master: sentinel.masterName,
        redis_queue_wait_replicas: '1',
        redis_queue_wait_timeout: '2s',
        // a delivery agent that could not read its message during the failover defers it, as Postfix's
        // does with a queue file it cannot read; short back-off times bring it back within the test
        minimal_backoff_time: '2s',
        maximal_backoff_time: '4s',
        queue_run_delay: '2s',
      },
    });
    await node.inst.start();
  });

  after(async () => {
    await node?.inst.dispose();
    await sink?.close();
    await sentinel?.stop();
  });

  test('every acknowledged message is delivered; the node follows the failover by itself', async () => {
    const count = 150;
    const loading = load(() => node, port, 0, count, 4000);
    await until('a third of the load delivered', () => sink.total() >= count / 3, 120_000);
    const was = await sentinel.currentMaster();
    const now = await sentinel.failover();
    // the old master comes back; the Sentinel makes it a replica of the new one, so WAIT 1 can succeed again
    await sentinel.servers.find((s) => s.address === was)!.restart();
    const acked = await loading;
    await until(`all ${acked.size} acknowledged messages delivered`, () => [...acked].every((n) => (sink.seen.get(n) ?? 0) >= 1), 120_000).catch(async (err) => {
      const missing = [...acked].filter((n) => !sink.seen.has(n));
      const queue = (await node.inst.postern(['queue', '-p'])).stdout;
      throw new Error(`${(err as Error).message}: ${missing.length} missing (${missing.slice(0, 10).join(' ')}); queue:\n${queue}\nlog:\n${node.inst.log.split('\n').filter((l) => !/status=sent|: removed/.test(l)).slice(-80).join('\n')}`);
    });
    const duplicates = [...acked].filter((n) => (sink.seen.get(n) ?? 0) > 1).length;
    console.log(`# sentinel failover ${was} -> ${now}: ${count} sent, ${acked.size} acknowledged, all delivered, ${duplicates} duplicated`);
    assert.equal(acked.size, count, 'every message was acknowledged in the end (clients retried while the master was down)');
    assert.ok(duplicates <= 20, `${duplicates} duplicates, more than could be in flight`);
    let listed = '';
    await until('the queue empty', async () => /Mail queue is empty/.test((listed = (await node.inst.postern(['queue', '-p'])).stdout)), 30_000).catch(() =>
      assert.fail(`the queue still holds mail:\n${listed}\nlog:\n${node.inst.log.split('\n').filter((l) => /warning|error|fatal/.test(l)).slice(-40).join('\n')}`),
    );
  });
});
