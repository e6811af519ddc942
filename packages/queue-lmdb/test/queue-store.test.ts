import { test, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { openQueueStore, CHUNK_SIZE } from '../src/index.js';
import type { LmdbQueueStore } from '../src/index.js';
import { openQueueDbs } from '../src/queue-lmdb.js';
import { isPosternError } from '@postern/core';
import { QUEUE, DELIVERY_LOG, QUEUE_RECLAIMABLE_FILE } from '@postern/core';
import type { QueueName } from '@postern/core';
import type { Envelope, QueuedMessage, DeliveryLogRecord } from '@postern/core';

let dir: string;
let store: LmdbQueueStore;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'postern-queue-'));
  store = openQueueStore({ queueDirectory: dir });
});

afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const envelope = (extra: Partial<Envelope> = {}): Envelope => ({
  sender: 'alice@example.com',
  recipients: [
    { address: 'bob@example.net', original: 'Bob@Example.NET', orcpt: 'rfc822;Bob@Example.NET', notify: ['FAILURE', 'DELAY'] },
    { address: 'carol@example.org' },
  ],
  arrivalTime: 1700000000000,
  dsnRet: 'HDRS',
  dsnEnvid: 'env-1',
  client: { name: 'mail.example.com', address: '192.0.2.1', port: 25, helo: 'mail.example.com', protocol: 'ESMTP', log: 'mail.example.com[192.0.2.1]' },
  sasl: { method: 'PLAIN', username: 'alice' },
  ...extra,
});

async function put(content: Buffer | string, queue?: QueueName, extra?: Partial<Envelope>): Promise<QueuedMessage> {
  const writer = store.createWriter();
  writer.write(Buffer.from(content));
  return writer.commit(envelope(extra), queue);
}

async function contentOf(id: string, from: LmdbQueueStore = store): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of from.readContent(id)) parts.push(chunk);
  return Buffer.concat(parts);
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

const rejectsWith = (code: string) => (err: unknown) => isPosternError(err) && err.code === code;

// The writer's first chunk starts small and grows: content must come back
// byte for byte, in full 64 KiB chunks plus a shorter last one, however it was written.
const WRITE_PATTERNS: { name: string; size: number; writes: number[] }[] = [
  { name: 'empty', size: 0, writes: [] },
  { name: 'one small write', size: 2300, writes: [2300] },
  { name: 'many tiny writes', size: 20000, writes: [7] },
  { name: 'writes crossing the growth steps', size: 70000, writes: [3000, 9000, 1] },
  { name: 'one write of exactly a chunk', size: CHUNK_SIZE, writes: [CHUNK_SIZE] },
  { name: 'one write larger than two chunks', size: 2 * CHUNK_SIZE + 5, writes: [2 * CHUNK_SIZE + 5] },
  { name: 'a chunk and one byte, small writes', size: CHUNK_SIZE + 1, writes: [4096] },
];
for (const { name, size, writes } of WRITE_PATTERNS) {
  test(`writer content round trip: ${name}`, async () => {
    const content = randomBytes(size);
    const writer = store.createWriter();
    for (let at = 0, i = 0; at < content.length; i++) {
      const n = writes[i % writes.length]!;
      writer.write(content.subarray(at, at + n));
      at += n;
    }
    const committed = await writer.commit(envelope(), QUEUE.INCOMING);
    assert.equal(committed.size, size);
    const chunks = await collect(store.readContent(writer.id));
    assert.equal(chunks.length, Math.ceil(size / CHUNK_SIZE));
    for (const c of chunks.slice(0, -1)) assert.equal(c.length, CHUNK_SIZE);
    assert.ok(Buffer.concat(chunks).equals(content));
  });
}

test('create, commit, get and readContent round trip with multi-chunk content', async () => {
  const content = randomBytes(3 * CHUNK_SIZE + 12345);
  const writer = store.createWriter();
  const id = writer.id;
  for (let at = 0; at < content.length; at += 1000) writer.write(content.subarray(at, at + 1000));
  assert.equal(writer.size, content.length);
  assert.equal(await store.get(id), undefined, 'nothing visible before commit');
  const committed = await writer.commit(envelope(), QUEUE.INCOMING);
  assert.equal(committed.id, id);
  assert.equal(committed.queue, QUEUE.INCOMING);
  assert.equal(committed.size, content.length);
  const got = await store.get(id);
  assert.deepEqual(got, { ...envelope(), id, queue: QUEUE.INCOMING, size: content.length });
  const chunks = await collect(store.readContent(id));
  assert.equal(chunks.length, 4);
  assert.ok(Buffer.concat(chunks).equals(content));
  assert.equal(await store.count(QUEUE.INCOMING), 1);
});

test('empty content and commit into hold and maildrop', async () => {
  const held = await put('', QUEUE.HOLD);
  const dropped = await put('x', QUEUE.MAILDROP);
  assert.equal((await contentOf(held.id)).length, 0);
  assert.equal((await contentOf(dropped.id)).toString(), 'x');
  assert.equal(await store.count(QUEUE.HOLD), 1);
  assert.equal(await store.count(QUEUE.MAILDROP), 1);
  assert.equal(await store.count(QUEUE.INCOMING), 0);
});

test('the store survives close and reopen', async () => {
  const m = await put('persisted');
  await store.close();
  store = openQueueStore({ queueDirectory: dir });
  assert.equal((await store.get(m.id))?.sender, 'alice@example.com');
  assert.equal((await contentOf(m.id)).toString(), 'persisted');
});

test('abort leaves nothing; a finished writer refuses more', async () => {
  const writer = store.createWriter();
  writer.write(randomBytes(2 * CHUNK_SIZE));
  writer.abort();
  assert.equal(await store.get(writer.id), undefined);
  assert.equal(await store.count(QUEUE.INCOMING), 0);
  assert.throws(() => writer.write(Buffer.from('x')), rejectsWith('POSTERN_ERR_QUEUE_WRITE'));
  await assert.rejects(writer.commit(envelope()), rejectsWith('POSTERN_ERR_QUEUE_WRITE'));
  const report = await store.check();
  assert.deepEqual(report.problems, []);
  const done = await put('once');
  assert.ok(done.id);
});

test('message size limit: commit rejects with QUEUE_TOO_LARGE, nothing stored', async () => {
  await store.close();
  store = openQueueStore({ queueDirectory: dir, messageSizeLimit: 1000 });
  const writer = store.createWriter();
  writer.write(Buffer.alloc(600));
  writer.write(Buffer.alloc(600));
  assert.equal(writer.size, 1200);
  await assert.rejects(writer.commit(envelope()), rejectsWith('POSTERN_ERR_QUEUE_TOO_LARGE'));
  assert.equal(await store.get(writer.id), undefined);
  const small = store.createWriter();
  small.write(Buffer.alloc(1000));
  await small.commit(envelope());
  const custom = store.createWriter({ sizeLimit: 0 });
  custom.write(Buffer.alloc(5000));
  await custom.commit(envelope());
  assert.equal(await store.count(QUEUE.INCOMING), 2);
});

test('bad IDs, queue names and envelopes are coded errors', async () => {
  await assert.rejects(store.get('../x'), rejectsWith('POSTERN_ERR_QUEUE_BAD_ID'));
  await assert.rejects(store.count('outgoing' as QueueName), rejectsWith('POSTERN_ERR_QUEUE_BAD_NAME'));
  const m = await put('x');
  await assert.rejects(store.move(m.id, 'nowhere' as QueueName), rejectsWith('POSTERN_ERR_QUEUE_BAD_NAME'));
  await assert.rejects(store.appendLog('nolog' as typeof DELIVERY_LOG.BOUNCE, m.id, logRecord('a')), rejectsWith('POSTERN_ERR_QUEUE_BAD_NAME'));
  const w = store.createWriter();
  await assert.rejects(w.commit({ sender: 'a', recipients: 'b' } as unknown as Envelope), rejectsWith('POSTERN_ERR_QUEUE_WRITE'));
  await assert.rejects(store.createWriter().commit(envelope(), 'bogus' as QueueName), rejectsWith('POSTERN_ERR_QUEUE_BAD_NAME'));
  await assert.rejects(collect(store.readContent('4SVLCh0sf8z1')), rejectsWith('POSTERN_ERR_QUEUE_NOT_FOUND'));
  assert.equal(await store.move('4SVLCh0sf8z1', QUEUE.ACTIVE), undefined);
  assert.equal(await store.delete('4SVLCh0sf8z1'), false);
});

test('scan lists incoming in arrival (ID) order and resumes after an ID', async () => {
  const ids: string[] = [];
  for (let i = 0; i < 600; i++) ids.push((await put(`m${i}`)).id);
  const scanned = (await collect(store.scan(QUEUE.INCOMING))).map((m) => m.id);
  assert.deepEqual(scanned, ids);
  const page = (await collect(store.scan(QUEUE.INCOMING, { after: ids[299], limit: 10 }))).map((m) => m.id);
  assert.deepEqual(page, ids.slice(300, 310));
  assert.deepEqual(await collect(store.scan(QUEUE.ACTIVE)), []);
});

test('deferred scans in nextAttempt order and stops at dueBy', async () => {
  const times = [5000, 1000, 3000, 3000, 2000, 9000];
  const ids: string[] = [];
  for (const t of times) {
    const m = await put(`t${t}`);
    const moved = await store.move(m.id, QUEUE.DEFERRED, { nextAttempt: t, reason: `later ${t}`, attempts: 1 });
    assert.equal(moved?.queue, QUEUE.DEFERRED);
    assert.equal(moved?.nextAttempt, t);
    ids.push(m.id);
  }
  const order = (await collect(store.scan(QUEUE.DEFERRED))).map((m) => m.nextAttempt);
  assert.deepEqual(order, [1000, 2000, 3000, 3000, 5000, 9000]);
  const due = await collect(store.scan(QUEUE.DEFERRED, { dueBy: 3000 }));
  assert.deepEqual(due.map((m) => m.nextAttempt), [1000, 2000, 3000, 3000]);
  assert.deepEqual(due.slice(2).map((m) => m.id), [ids[2], ids[3]], 'ties in ID order');
  const rest = await collect(store.scan(QUEUE.DEFERRED, { after: due[1].id }));
  assert.deepEqual(rest.map((m) => m.nextAttempt), [3000, 3000, 5000, 9000]);
  // Rescheduling moves the entry within the deferred order.
  await store.move(ids[5], QUEUE.DEFERRED, { nextAttempt: 500, attempts: 2, warned: 123 });
  const first = (await collect(store.scan(QUEUE.DEFERRED, { limit: 1 })))[0];
  assert.equal(first.id, ids[5]);
  assert.equal(first.attempts, 2);
  assert.equal(first.warned, 123);
  assert.equal(first.reason, 'later 9000', 'unchanged state is kept');
  assert.equal(await store.count(QUEUE.DEFERRED), 6);
  // Deferred -> active -> deferred.
  await store.move(ids[1], QUEUE.ACTIVE);
  assert.equal(await store.count(QUEUE.DEFERRED), 5);
  assert.deepEqual((await collect(store.scan(QUEUE.ACTIVE))).map((m) => m.id), [ids[1]]);
  assert.equal(await store.count(QUEUE.INCOMING), 0);
});

test('updateRecipients marks recipients done and undone', async () => {
  const m = await put('x');
  const updated = await store.updateRecipients(m.id, [{ index: 1, done: true }]);
  assert.deepEqual(updated?.recipients.map((r) => r.done === true), [false, true]);
  assert.equal((await store.get(m.id))?.recipients[1].done, true);
  const both = await store.updateRecipients(m.id, [{ index: 0 }, { index: 1, done: false }]);
  assert.deepEqual(both?.recipients.map((r) => r.done === true), [true, false]);
  assert.deepEqual((await store.get(m.id))?.recipients[0].notify, ['FAILURE', 'DELAY']);
  await assert.rejects(store.updateRecipients(m.id, [{ index: 2, done: true }]), rejectsWith('POSTERN_ERR_QUEUE_WRITE'));
  assert.equal(await store.updateRecipients('4SVLCh0sf8z1', [{ index: 0 }]), undefined);
});

function logRecord(recipient: string, status = '4.4.1'): DeliveryLogRecord {
  return { recipient, status, action: 'delayed', reason: `connect to ${recipient}: Connection refused`, diagnostic: 'X-Postfix; connection refused', time: 1700000000000 };
}

test('delivery logs append in order, read back, delete; delete removes message, content and logs', async () => {
  const m = await put(randomBytes(CHUNK_SIZE + 10));
  const other = await put('other');
  await Promise.all([
    store.appendLog(DELIVERY_LOG.DEFER, m.id, logRecord('a@x')),
    store.appendLog(DELIVERY_LOG.DEFER, m.id, logRecord('b@x')),
    store.appendLog(DELIVERY_LOG.DEFER, m.id, logRecord('c@x')),
  ]);
  await store.appendLog(DELIVERY_LOG.BOUNCE, m.id, logRecord('d@x', '5.1.1'));
  await store.appendLog(DELIVERY_LOG.DEFER, other.id, logRecord('z@x'));
  assert.deepEqual((await store.readLog(DELIVERY_LOG.DEFER, m.id)).map((r) => r.recipient), ['a@x', 'b@x', 'c@x']);
  assert.deepEqual(await store.readLog(DELIVERY_LOG.BOUNCE, m.id), [logRecord('d@x', '5.1.1')]);
  assert.deepEqual(await store.readLog(DELIVERY_LOG.TRACE, m.id), []);
  await store.deleteLog(DELIVERY_LOG.BOUNCE, m.id);
  assert.deepEqual(await store.readLog(DELIVERY_LOG.BOUNCE, m.id), []);
  assert.equal((await store.readLog(DELIVERY_LOG.DEFER, m.id)).length, 3);
  await store.appendLog(DELIVERY_LOG.TRACE, m.id, logRecord('t@x', '2.0.0'));

  assert.equal(await store.delete(m.id), true);
  assert.equal(await store.delete(m.id), false);
  assert.equal(await store.get(m.id), undefined);
  await assert.rejects(collect(store.readContent(m.id)), rejectsWith('POSTERN_ERR_QUEUE_NOT_FOUND'));
  for (const log of Object.values(DELIVERY_LOG)) assert.deepEqual(await store.readLog(log, m.id), []);
  await assert.rejects(store.appendLog(DELIVERY_LOG.DEFER, m.id, logRecord('late@x')), rejectsWith('POSTERN_ERR_QUEUE_NOT_FOUND'));
  assert.equal((await store.readLog(DELIVERY_LOG.DEFER, other.id)).length, 1, 'other logs untouched');
  assert.equal(await store.count(QUEUE.INCOMING), 1);
  assert.deepEqual((await store.check()).problems, [], 'no leftovers');
});

test('count follows commits, moves and deletes in every queue', async () => {
  const ms = [];
  for (let i = 0; i < 10; i++) ms.push(await put(`c${i}`));
  await store.move(ms[0].id, QUEUE.ACTIVE);
  await store.move(ms[1].id, QUEUE.HOLD);
  await store.move(ms[2].id, QUEUE.CORRUPT);
  await store.move(ms[3].id, QUEUE.DEFERRED, { nextAttempt: 1 });
  await store.delete(ms[4].id);
  const counts = Object.fromEntries(await Promise.all(Object.values(QUEUE).map(async (q) => [q, await store.count(q)])));
  assert.deepEqual(counts, { maildrop: 0, incoming: 5, active: 1, deferred: 1, hold: 1, corrupt: 1 });
});

test('onCommit tells listeners about each durable commit', async () => {
  const seen: string[] = [];
  const off = store.onCommit((m) => seen.push(`${m.queue}:${m.id}`));
  const a = await put('a');
  const b = await put('b', QUEUE.HOLD);
  off();
  await put('c');
  assert.deepEqual(seen, [`incoming:${a.id}`, `hold:${b.id}`]);
});

test('many concurrent commits in one process all land', async () => {
  const writers = Array.from({ length: 500 }, (_, i) => {
    const w = store.createWriter();
    w.write(Buffer.from(`message ${i}\r\n`.repeat(100)));
    return w;
  });
  const done = await Promise.all(writers.map((w) => w.commit(envelope())));
  assert.equal(new Set(done.map((m) => m.id)).size, 500);
  assert.equal(await store.count(QUEUE.INCOMING), 500);
  assert.equal((await contentOf(done[123].id)).toString(), 'message 123\r\n'.repeat(100));
});

test('check finds damage and repair fixes it (postsuper -s)', async () => {
  const good = await put('good');
  const noContent = await put(randomBytes(2 * CHUNK_SIZE + 1));
  const noIndex = await put('unlisted');
  const deferred = await put('deferred');
  await store.move(deferred.id, QUEUE.DEFERRED, { nextAttempt: 42 });
  await store.close();
  // Damage the database behind the store's back.
  const dbs = openQueueDbs(dir, undefined);
  await dbs.content.remove([noContent.id, 1]);
  await dbs.index.incoming.remove(noIndex.id);
  await dbs.index.active.put('4SVLCh0sf8z1', true);
  await dbs.index.hold.put(good.id, true);
  await dbs.content.put(['4SVLCh0sf8z2', 0], Buffer.from('orphan'));
  await dbs.logs.put(['defer', '4SVLCh0sf8z3', 0], logRecord('gone@x'));
  await dbs.root.close();
  store = openQueueStore({ queueDirectory: dir });

  const report = await store.check();
  const found = report.problems.map((p) => `${p.kind} ${p.id}${p.queue ? ` ${p.queue}` : ''}`).sort();
  assert.deepEqual(
    found,
    [
      `index-without-message 4SVLCh0sf8z1 active`,
      `index-without-message ${good.id} hold`,
      `message-without-index ${noIndex.id} incoming`,
      `missing-content ${noContent.id} incoming`,
      `orphan-content 4SVLCh0sf8z2`,
      `orphan-log 4SVLCh0sf8z3`,
    ].sort(),
  );
  assert.equal(report.repaired, 0);
  assert.equal(report.messages, 4);
  assert.equal((await store.check()).problems.length, 6, 'check changes nothing');
  await assert.rejects(collect(store.readContent(noContent.id)), rejectsWith('POSTERN_ERR_QUEUE_CORRUPT'));

  const repaired = await store.repair();
  assert.equal(repaired.repaired, 6);
  assert.deepEqual((await store.check()).problems, []);
  assert.equal((await store.get(noContent.id))?.queue, QUEUE.CORRUPT);
  assert.deepEqual((await collect(store.scan(QUEUE.CORRUPT))).map((m) => m.id), [noContent.id]);
  assert.deepEqual((await collect(store.scan(QUEUE.INCOMING))).map((m) => m.id), [good.id, noIndex.id]);
  assert.deepEqual(await collect(store.scan(QUEUE.HOLD)), []);
  assert.equal(await store.count(QUEUE.ACTIVE), 0);
  assert.equal((await collect(store.scan(QUEUE.DEFERRED, { dueBy: 42 })))[0].id, deferred.id);
});

test('the data file keeps its size when mail leaves, and queue.reclaimable says how much of it new mail can reuse', async () => {
  const file = join(dir, QUEUE_RECLAIMABLE_FILE);
  mkdirSync(dirname(file)); // master makes private/ at start
  const ids: string[] = [];
  for (let i = 0; i < 40; i++) ids.push((await put(randomBytes(100 * 1024))).id);
  const figure = async (): Promise<number> => {
    for (let i = 0; i < 50; i++) {
      await new Promise((r) => setTimeout(r, 100));
      try {
        return Number(readFileSync(file, 'utf8'));
      } catch {
        /* not written yet */
      }
    }
    throw new Error(`${QUEUE_RECLAIMABLE_FILE} was not written`);
  };
  const full = await figure();
  const size = statSync(join(dir, 'queue.lmdb', 'data.mdb')).size;
  assert.ok(size >= 40 * 100 * 1024, `the data file holds the mail (${size} bytes)`);
  for (const id of ids) await store.delete(id);
  // another process's view: the figure in the file, written a moment after the change
  await new Promise((r) => setTimeout(r, 1500));
  const drained = Number(readFileSync(file, 'utf8'));
  assert.equal(statSync(join(dir, 'queue.lmdb', 'data.mdb')).size, size, 'LMDB does not shrink its file');
  assert.ok(drained >= 35 * 100 * 1024, `most of the 4 MB is reusable (${drained} bytes; ${full} before)`);
  assert.ok(drained > full);
  assert.ok(drained <= size);
});

test('a change not yet written to queue.reclaimable is written when the store closes (a short-lived command)', async () => {
  const file = join(dir, QUEUE_RECLAIMABLE_FILE);
  mkdirSync(dirname(file));
  const ids: string[] = [];
  for (let i = 0; i < 20; i++) ids.push((await put(randomBytes(100 * 1024))).id);
  await store.close();
  const before = Number(readFileSync(file, 'utf8'));
  store = openQueueStore({ queueDirectory: dir });
  for (const id of ids) await store.delete(id);
  await store.close();
  const after = Number(readFileSync(file, 'utf8'));
  assert.ok(after >= before + 15 * 100 * 1024, `${after} bytes reusable after the deletes, ${before} before`);
});

test('a scan whose consumer reads each message keeps lmdb-js\'s read-renewal timers to a page, not one per message', async () => {
  for (let i = 0; i < 2000; i += 500) await Promise.all(Array.from({ length: 500 }, () => put('Subject: x\n\nbody\n', QUEUE.HOLD)));
  const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
  const before = timers();
  let most = 0;
  let n = 0;
  for await (const m of store.scan(QUEUE.HOLD)) {
    // showq does this for every message: each read after the store's refresh arms a timer in lmdb-js
    await store.readLog(DELIVERY_LOG.DEFER, m.id);
    most = Math.max(most, timers() - before);
    n++;
  }
  assert.equal(n, 2000);
  assert.ok(most <= 4 * 256, `${most} timers were pending at once during the scan`);
});
