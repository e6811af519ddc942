/**
 * postsuper -e / -f against a running Postern (master, qmgr, cleanup,
 * trivial-rewrite, bounce, showq, flush): qmgr returns a force-expired message
 * to the sender at its next attempt. A file of its own, so that admin.test's
 * 100,000-message test keeps its time budget.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { DELIVERY_LOG, QUEUE, type QueueName } from '@postern/core';
import { openQueueStore, type LmdbQueueStore } from '@postern/queue-lmdb';
import { Instance, POSTERN_BIN, type RunResult } from '../lib/instance.js';

const BIN = process.env['POSTERN_TEST_BIN'] ?? POSTERN_BIN;

const MASTER = [
  'cleanup   unix  n       -       n       -       0       cleanup',
  'qmgr      unix  n       -       n       300     1       qmgr',
  'rewrite   unix  -       -       n       -       -       trivial-rewrite',
  'bounce    unix  -       -       n       -       0       bounce',
  'defer     unix  -       -       n       -       0       bounce',
  'trace     unix  -       -       n       -       0       bounce',
  'showq     unix  n       -       n       -       -       showq',
  'flush     unix  n       -       n       1000?   0       flush',
  '',
].join('\n');

describe('force expiration while the mail system runs', () => {
  let inst: Instance;
  let store: LmdbQueueStore;

  function postern(args: readonly string[], input = ''): Promise<RunResult> {
    return new Promise((resolve) => {
      const [sub, ...rest] = args;
      const child = spawn(process.execPath, [BIN, sub!, '-c', inst.configDir, ...rest], { stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      child.stdin.end(input);
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
  }

  async function put(queue: QueueName, rcpt: string, state?: { reason?: string; nextAttempt?: number }): Promise<string> {
    const w = store.createWriter();
    w.write(Buffer.from(`From: sender@example.com\nTo: ${rcpt}\nSubject: admin test\n\nbody\n`));
    const m = await w.commit({ sender: 'sender@example.com', recipients: [{ address: rcpt }], arrivalTime: Date.now() }, queue);
    if (state) await store.move(m.id, queue, state);
    return m.id;
  }

  before(async () => {
    inst = new Instance({ master: MASTER, main: { relay_domains: 'example.net' } });
    await inst.start();
    await inst.waitForLog(/daemon started/);
    store = openQueueStore({ queueDirectory: inst.queueDir });
  });

  after(async () => {
    await store?.close();
    await inst.dispose();
  });

  test('super -e / -f: qmgr returns a force-expired message to the sender at its next attempt, with the delay reason', async () => {
    const bodyOf = async (id: string) => {
      const chunks: Buffer[] = [];
      for await (const c of store.readContent(id)) chunks.push(c);
      return Buffer.concat(chunks).toString();
    };
    const bouncesFor = async (id: string) => {
      const out: string[] = [];
      for (const q of [QUEUE.INCOMING, QUEUE.ACTIVE, QUEUE.DEFERRED]) {
        for await (const m of store.scan(q)) if (m.sender === '' && (await bodyOf(m.id)).includes(id)) out.push(await bodyOf(m.id));
      }
      return out;
    };
    const reason = 'connect to mx.example.net[192.0.2.1]:25: Connection refused';
    const deferred = await put(QUEUE.DEFERRED, 'late@example.net', { reason, nextAttempt: Date.now() + 3600_000 });
    await store.appendLog(DELIVERY_LOG.DEFER, deferred, { recipient: 'late@example.net', status: '4.4.1', action: 'delayed', reason, time: Date.now() });
    const held = await put(QUEUE.HOLD, 'held@example.net');
    const e = await postern(['super', '-e', deferred]);
    assert.equal(e.stderr, `postsuper: ${deferred}: expired\npostsuper: Force-expired: 1 message\n`);
    const f = await postern(['super', '-f', held]);
    assert.equal(f.stderr, `postsuper: ${held}: expired\npostsuper: ${held}: released from hold\npostsuper: Force-expired: 1 message\npostsuper: Released from hold: 1 message\n`);
    // The deferred one waits for its retry time, as in Postfix; postqueue -f makes that now.
    const flush = await postern(['queue', '-f']);
    assert.equal(flush.code, 0, flush.stderr);
    for (const id of [deferred, held]) {
      await inst.waitForLog(new RegExp(`${id}: from=<sender@example\\.com>, status=force-expired, returned to sender`));
      await inst.waitForLog(new RegExp(`${id}: removed`));
      assert.equal(await store.get(id), undefined);
    }
    assert.doesNotMatch(inst.log, new RegExp(`${deferred}: to=<late@example\\.net>.*status=deferred`), 'no delivery attempt');
    const [late] = await bouncesFor(deferred);
    assert.ok(late, 'a bounce for the deferred message');
    assert.match(late, /Connection refused/);
    assert.match(late, /Action: failed\r?\nStatus: 4\.4\.1/);
    const [hold] = await bouncesFor(held);
    assert.ok(hold, 'a bounce for the held message');
    assert.match(hold, /message is administratively expired/);
    assert.match(hold, /Status: 4\.7\.0/);
    await postern(['super', '-d', 'ALL']);
  });

});
