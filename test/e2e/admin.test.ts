/**
 * The queue administration commands against a running Postern (master,
 * qmgr, cleanup, trivial-rewrite, bounce, showq, flush): postqueue through
 * showq and flush, postsuper while qmgr works, postkick, and a 100,000-message
 * queue listed as a stream (time and peak RSS printed, not asserted).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createConfigView, flushClient, ParameterRegistry, parseMainCf, QUEUE, type QueueName, ServiceClients, type ConfigView } from '@postern/core';
import { openQueueStore, type LmdbQueueStore } from '@postern/queue-lmdb';
import { Instance, POSTERN_BIN, type RunResult } from '../lib/instance.js';

/** The service connections this test opens (each closed by closeClients()). */
const openClients: ServiceClients[] = [];
const clientsOf = (config: ConfigView): ServiceClients => {
  const c = new ServiceClients(config);
  openClients.push(c);
  return c;
};
const closeClients = (): void => openClients.splice(0).forEach((c) => c.close());

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

describe('queue administration while the mail system runs', () => {
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
    inst = new Instance({ master: MASTER, main: { fast_flush_domains: 'example.net', relay_domains: 'example.net' } });
    await inst.start();
    await inst.waitForLog(/daemon started/);
    store = openQueueStore({ queueDirectory: inst.queueDir });
  });

  after(async () => {
    closeClients();
    await store?.close();
    await inst.dispose();
  });

  test('queue -p and -j list active, deferred (with reason) and held mail through showq', async () => {
    const reason = 'connect to mx.example.net[192.0.2.1]:25: Connection refused';
    const deferred = await put(QUEUE.DEFERRED, 'd@example.net', { reason, nextAttempt: Date.now() + 3600_000 });
    const held = await put(QUEUE.HOLD, 'h@example.net');
    const active = await put(QUEUE.ACTIVE, 'a@example.net');
    const p = await postern(['queue', '-p']);
    assert.equal(p.code, 0, p.stderr);
    assert.doesNotMatch(p.stderr, /Mail system is down/);
    assert.match(p.stdout, /^----Queue ID----- --Size-- ---Arrival Time---- --Sender\/Recipient------$/m);
    assert.match(p.stdout, new RegExp(`^${active}\\* +\\d+ \\w{3} \\w{3} [ \\d]\\d \\d\\d:\\d\\d:\\d\\d sender@example\\.com$`, 'm'));
    assert.match(p.stdout, new RegExp(`^${held}! `, 'm'));
    assert.ok(p.stdout.includes(`${deferred} `));
    assert.ok(p.stdout.includes(`(${reason})\n${' '.repeat(47)}d@example.net\n`), p.stdout);
    assert.match(p.stdout, /\n-- \d+ Kbytes in 3 Requests\.\n$/);
    const j = await postern(['queue', '-j']);
    assert.equal(j.code, 0, j.stderr);
    const rows = j.stdout.trim().split('\n').map((l) => JSON.parse(l) as { queue_name: string; queue_id: string; recipients: unknown[] });
    assert.deepEqual(
      rows.map((r) => [r.queue_name, r.queue_id]),
      [
        ['active', active],
        ['deferred', deferred],
        ['hold', held],
      ],
    );
    assert.deepEqual(rows[1]!.recipients, [{ address: 'd@example.net', delay_reason: reason }]);
    for (const id of [deferred, held, active]) await store.delete(id);
  });

  test('queue -i delivers one deferred message now; queue -s flushes a site through the flush service', async () => {
    const one = await put(QUEUE.DEFERRED, 'one@example.net', { reason: 'test', nextAttempt: Date.now() + 3600_000 });
    const i = await postern(['queue', '-i', one]);
    assert.equal(i.code, 0, i.stderr);
    // qmgr takes it from incoming; no smtp transport in master.cf, so it is deferred again.
    await inst.waitForLog(new RegExp(`${one}: to=<one@example\\.net>.*status=deferred`));

    const site = await put(QUEUE.DEFERRED, 'two@example.net', { reason: 'test', nextAttempt: Date.now() + 3600_000 });
    const config = createConfigView({ registry: ParameterRegistry.withCore(), configDirectory: inst.configDir, mainCf: parseMainCf(`queue_directory = ${inst.queueDir}\n`) });
    assert.equal(await flushClient(clientsOf(config)).add('example.net', site), 'ok', inst.log.split('\n').filter((l) => /flush/.test(l)).join('\n'));
    const s = await postern(['queue', '-s', 'example.net']);
    assert.equal(s.code, 0, s.stderr);
    await inst.waitForLog(new RegExp(`${site}: to=<two@example\\.net>.*status=deferred`));
    const deny = await postern(['queue', '-s', 'example.com']);
    assert.equal(deny.code, 69);
    assert.match(deny.stderr, /^postqueue: fatal: Flush service is not configured for destination "example\.com"$/m);
    const f = await postern(['queue', '-f']);
    assert.equal(f.code, 0, f.stderr);
    for (const id of [one, site]) await store.delete(id);
  });

  test('super holds, releases, requeues and deletes while qmgr runs; kick reaches qmgr', async () => {
    const id = await put(QUEUE.DEFERRED, 'r@example.net', { reason: 'test', nextAttempt: Date.now() + 3600_000 });
    const h = await postern(['super', '-h', id]);
    assert.equal(h.stderr, `postsuper: ${id}: placed on hold\npostsuper: Placed on hold: 1 message\n`);
    assert.equal((await store.get(id))?.queue, QUEUE.HOLD);
    const r = await postern(['super', '-r', id]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, `postsuper: ${id}: requeued\npostsuper: Requeued: 1 message\n`);
    assert.equal(await store.get(id), undefined, 'the old copy is gone');
    // cleanup queued a new copy with the same envelope; qmgr picks it up and defers it (no smtp).
    const m = await inst.waitForLog(/(\w+): to=<r@example\.net>.*status=deferred/);
    const newId = m[1]!;
    assert.notEqual(newId, id);
    // qmgr logs the deferral before it moves the message back to the deferred queue.
    let msg = await store.get(newId);
    while (msg?.queue !== QUEUE.DEFERRED) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      msg = await store.get(newId);
    }
    assert.equal(msg.sender, 'sender@example.com');
    const held = await postern(['super', '-h', 'ALL', 'deferred']);
    assert.match(held.stderr, /Placed on hold: \d+ messages?\n$/);
    const rel = await postern(['super', '-H', newId]);
    assert.equal(rel.stderr, `postsuper: ${newId}: released from hold\npostsuper: Released from hold: 1 message\n`);
    const kick = await postern(['kick', 'public', 'qmgr', 'DA']);
    assert.equal(kick.code, 0, kick.stderr);
    const del = await postern(['super', '-d', 'ALL']);
    assert.equal(del.code, 0, del.stderr);
    assert.match(del.stderr, /Deleted: \d+ messages?\n$/);
    assert.equal(await store.count(QUEUE.DEFERRED) + (await store.count(QUEUE.HOLD)), 0);
    assert.match(readFileSync(inst.logFile, 'utf8'), /postfix\/postsuper\[\d+\]: Deleted: /);
  });

  test('a 100,000-message queue lists as a stream through showq', { timeout: 600_000 }, async () => {
    const n = 100_000;
    const body = Buffer.from('Subject: bulk\n\nx\n');
    const started = Date.now();
    for (let i = 0; i < n; i += 5000) {
      await Promise.all(
        Array.from({ length: Math.min(5000, n - i) }, (_, k) => {
          const w = store.createWriter();
          w.write(body);
          return w.commit({ sender: 'bulk@example.com', recipients: [{ address: `u${i + k}@example.net` }], arrivalTime: Date.now() }, QUEUE.HOLD);
        }),
      );
    }
    const writeMs = Date.now() - started;
    const t0 = Date.now();
    const child = spawn(process.execPath, [BIN, 'queue', '-c', inst.configDir, '-p'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let peakKb = 0;
    const poll = setInterval(() => {
      try {
        const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
        if (m) peakKb = Math.max(peakKb, Number(m[1]));
      } catch {
        /* exited */
      }
    }, 25);
    let rows = 0;
    let tail = '';
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.stdout.on('data', (d: Buffer) => {
      const text = tail + d.toString();
      const lines = text.split('\n');
      tail = lines.pop()!;
      for (const l of lines) if (l.endsWith(' bulk@example.com')) rows++;
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    clearInterval(poll);
    const listMs = Date.now() - t0;
    assert.equal(code, 0, stderr);
    assert.doesNotMatch(stderr, /Mail system is down/);
    assert.equal(rows, n);
    process.stdout.write(
      `# 100k queue: wrote ${n} messages in ${writeMs} ms; postern queue -p listed them in ${listMs} ms, peak RSS of the listing process ${Math.round(peakKb / 1024)} MiB\n`,
    );
    const del = await postern(['super', '-d', 'ALL', 'hold']);
    assert.match(del.stderr, new RegExp(`Deleted: ${n} messages\\n$`));
  });
});
