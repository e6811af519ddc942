/**
 * The QueueStore contract as a table of tests any backend must pass
 * (ported from core's LMDB queue-store tests, the contract-level part:
 * no LMDB layout, no postsuper -s repair, no onCommit). `open()` returns a
 * fresh, empty store each time it is called with `fresh`, or another handle on
 * the same queue (a reopen, or a second process) without.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { DELIVERY_LOG, isPosternError, QUEUE, type DeliveryLogRecord, type Envelope, type QueuedMessage, type QueueName, type QueueStore } from '@postern/core';

export interface ContractTarget {
  /** A store on a new, empty queue (fresh) or on the queue of the last fresh one. */
  open(options: { fresh: boolean; messageSizeLimit?: number }): QueueStore;
  /** Content chunk size of the backend. */
  readonly chunkSize: number;
}

export const envelope = (extra: Partial<Envelope> = {}): Envelope => ({
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

export async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

export const rejectsWith = (code: string) => (err: unknown) => isPosternError(err) && err.code === code;

function logRecord(recipient: string, status = '4.4.1'): DeliveryLogRecord {
  return { recipient, status, action: 'delayed', reason: `connect to ${recipient}: Connection refused`, diagnostic: 'X-Postfix; connection refused', time: 1700000000000 };
}

/** Registers the contract tests for `target` under `label`. */
export function queueStoreContract(label: string, target: () => ContractTarget): void {
  const CHUNK = () => target().chunkSize;
  const withStore = (name: string, fn: (store: QueueStore, t: ContractTarget) => Promise<void>): void => {
    void test(`${label}: ${name}`, async () => {
      const t = target();
      const store = t.open({ fresh: true });
      try {
        await fn(store, t);
      } finally {
        await store.close();
      }
    });
  };
  const put = async (store: QueueStore, content: Buffer | string, queue?: QueueName, extra?: Partial<Envelope>): Promise<QueuedMessage> => {
    const writer = store.createWriter();
    writer.write(Buffer.from(content));
    return writer.commit(envelope(extra), queue);
  };
  const contentOf = async (store: QueueStore, id: string) => Buffer.concat(await collect(store.readContent(id)));

  for (const { name, size, writes } of [
    { name: 'empty', size: 0, writes: [] as number[] },
    { name: 'many tiny writes', size: 20000, writes: [7] },
    { name: 'writes crossing chunk boundaries', size: 70000, writes: [3000, 9000, 1] },
    { name: 'one write larger than two chunks', size: 2 * 65536 + 5, writes: [2 * 65536 + 5] },
  ]) {
    withStore(`writer content round trip: ${name}`, async (store) => {
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
      assert.equal(chunks.length, Math.ceil(size / CHUNK()));
      for (const c of chunks.slice(0, -1)) assert.equal(c.length, CHUNK());
      assert.ok(Buffer.concat(chunks).equals(content));
    });
  }

  withStore('commit, get and readContent; nothing visible before commit', async (store) => {
    const content = randomBytes(3 * 65536 + 12345);
    const writer = store.createWriter();
    const id = writer.id;
    for (let at = 0; at < content.length; at += 1000) writer.write(content.subarray(at, at + 1000));
    assert.equal(writer.size, content.length);
    assert.equal(await store.get(id), undefined);
    const committed = await writer.commit(envelope(), QUEUE.INCOMING);
    assert.equal(committed.id, id);
    assert.deepEqual(await store.get(id), { ...envelope(), id, queue: QUEUE.INCOMING, size: content.length });
    assert.ok((await contentOf(store, id)).equals(content));
    assert.equal(await store.count(QUEUE.INCOMING), 1);
  });

  withStore('empty content and commit into hold and maildrop', async (store) => {
    const held = await put(store, '', QUEUE.HOLD);
    const dropped = await put(store, 'x', QUEUE.MAILDROP);
    assert.equal((await contentOf(store, held.id)).length, 0);
    assert.equal((await contentOf(store, dropped.id)).toString(), 'x');
    assert.equal(await store.count(QUEUE.HOLD), 1);
    assert.equal(await store.count(QUEUE.MAILDROP), 1);
    assert.equal(await store.count(QUEUE.INCOMING), 0);
  });

  withStore('another handle (a reopen, another process) sees the same queue', async (store, t) => {
    const m = await put(store, 'persisted');
    const other = t.open({ fresh: false });
    try {
      assert.equal((await other.get(m.id))?.sender, 'alice@example.com');
      assert.equal((await contentOf(other, m.id)).toString(), 'persisted');
    } finally {
      await other.close();
    }
  });

  withStore('abort leaves nothing; a finished writer refuses more; an ID is used once', async (store) => {
    const writer = store.createWriter();
    writer.write(randomBytes(2 * 65536));
    writer.abort();
    assert.equal(await store.get(writer.id), undefined);
    assert.equal(await store.count(QUEUE.INCOMING), 0);
    assert.throws(() => writer.write(Buffer.from('x')), rejectsWith('POSTERN_ERR_QUEUE_WRITE'));
    await assert.rejects(writer.commit(envelope()), rejectsWith('POSTERN_ERR_QUEUE_WRITE'));
    const done = await put(store, 'once');
    const again = store.createWriter({ queueId: done.id });
    again.write(Buffer.from('twice'));
    await assert.rejects(again.commit(envelope()), rejectsWith('POSTERN_ERR_QUEUE_WRITE'));
    assert.equal((await contentOf(store, done.id)).toString(), 'once', 'the first message is untouched');
  });

  test(`${label}: message size limit: commit rejects with QUEUE_TOO_LARGE, nothing stored`, async () => {
    const store = target().open({ fresh: true, messageSizeLimit: 1000 });
    try {
      const writer = store.createWriter();
      writer.write(Buffer.alloc(600));
      writer.write(Buffer.alloc(600));
      assert.equal(writer.size, 1200);
      await assert.rejects(writer.commit(envelope()), rejectsWith('POSTERN_ERR_QUEUE_TOO_LARGE'));
      assert.equal(await store.get(writer.id), undefined);
      const small = store.createWriter();
      small.write(Buffer.alloc(1000));
      await small.commit(envelope());
      assert.equal(await store.count(QUEUE.INCOMING), 1);
    } finally {
      await store.close();
    }
  });

  withStore('bad IDs, queue names and envelopes are coded errors', async (store) => {
    await assert.rejects(store.get('../x'), rejectsWith('POSTERN_ERR_QUEUE_BAD_ID'));
    await assert.rejects(store.count('outgoing' as QueueName), rejectsWith('POSTERN_ERR_QUEUE_BAD_NAME'));
    const m = await put(store, 'x');
    await assert.rejects(store.move(m.id, 'nowhere' as QueueName), rejectsWith('POSTERN_ERR_QUEUE_BAD_NAME'));
    await assert.rejects(store.appendLog('nolog' as typeof DELIVERY_LOG.BOUNCE, m.id, logRecord('a')), rejectsWith('POSTERN_ERR_QUEUE_BAD_NAME'));
    await assert.rejects(store.createWriter().commit({ sender: 'a', recipients: 'b' } as unknown as Envelope), rejectsWith('POSTERN_ERR_QUEUE_WRITE'));
    await assert.rejects(store.createWriter().commit(envelope(), 'bogus' as QueueName), rejectsWith('POSTERN_ERR_QUEUE_BAD_NAME'));
    await assert.rejects(collect(store.readContent('4SVLCh0sf8z1')), rejectsWith('POSTERN_ERR_QUEUE_NOT_FOUND'));
    assert.equal(await store.move('4SVLCh0sf8z1', QUEUE.ACTIVE), undefined);
    assert.equal(await store.delete('4SVLCh0sf8z1'), false);
  });

  withStore('scan lists incoming in arrival (ID) order and resumes after an ID', async (store) => {
    const ids: string[] = [];
    for (let i = 0; i < 600; i++) ids.push((await put(store, `m${i}`)).id);
    assert.deepEqual((await collect(store.scan(QUEUE.INCOMING))).map((m) => m.id), ids);
    const page = (await collect(store.scan(QUEUE.INCOMING, { after: ids[299], limit: 10 }))).map((m) => m.id);
    assert.deepEqual(page, ids.slice(300, 310));
    assert.deepEqual(await collect(store.scan(QUEUE.ACTIVE)), []);
  });

  withStore('deferred scans in nextAttempt order and stops at dueBy', async (store) => {
    const times = [5000, 1000, 3000, 3000, 2000, 9000];
    const ids: string[] = [];
    for (const t of times) {
      const m = await put(store, `t${t}`);
      const moved = await store.move(m.id, QUEUE.DEFERRED, { nextAttempt: t, reason: `later ${t}`, attempts: 1 });
      assert.equal(moved?.queue, QUEUE.DEFERRED);
      assert.equal(moved?.nextAttempt, t);
      ids.push(m.id);
    }
    assert.deepEqual((await collect(store.scan(QUEUE.DEFERRED))).map((m) => m.nextAttempt), [1000, 2000, 3000, 3000, 5000, 9000]);
    const due = await collect(store.scan(QUEUE.DEFERRED, { dueBy: 3000 }));
    assert.deepEqual(due.map((m) => m.nextAttempt), [1000, 2000, 3000, 3000]);
    assert.deepEqual(due.slice(2).map((m) => m.id), [ids[2], ids[3]], 'ties in ID order');
    const rest = await collect(store.scan(QUEUE.DEFERRED, { after: due[1]!.id }));
    assert.deepEqual(rest.map((m) => m.nextAttempt), [3000, 3000, 5000, 9000]);
    await store.move(ids[5]!, QUEUE.DEFERRED, { nextAttempt: 500, attempts: 2, warned: 123 });
    const first = (await collect(store.scan(QUEUE.DEFERRED, { limit: 1 })))[0]!;
    assert.equal(first.id, ids[5]);
    assert.equal(first.attempts, 2);
    assert.equal(first.warned, 123);
    assert.equal(first.reason, 'later 9000', 'unchanged state is kept');
    const cleared = await store.move(ids[5]!, QUEUE.DEFERRED, { reason: undefined });
    assert.equal(cleared?.reason, undefined, 'a state field given as undefined is cleared');
    assert.equal(await store.count(QUEUE.DEFERRED), 6);
    await store.move(ids[1]!, QUEUE.ACTIVE);
    assert.equal(await store.count(QUEUE.DEFERRED), 5);
    assert.deepEqual((await collect(store.scan(QUEUE.ACTIVE))).map((m) => m.id), [ids[1]]);
  });

  withStore('a deferred scan pages through many messages with equal next attempts', async (store) => {
    const ids: string[] = [];
    for (let i = 0; i < 700; i++) {
      const m = await put(store, `d${i}`);
      await store.move(m.id, QUEUE.DEFERRED, { nextAttempt: i < 600 ? 7000 : 8000 });
      ids.push(m.id);
    }
    const all = (await collect(store.scan(QUEUE.DEFERRED))).map((m) => m.id);
    assert.deepEqual(all, ids);
    assert.equal((await collect(store.scan(QUEUE.DEFERRED, { dueBy: 7000 }))).length, 600);
  });

  withStore('updateRecipients marks recipients done and undone', async (store) => {
    const m = await put(store, 'x');
    const updated = await store.updateRecipients(m.id, [{ index: 1, done: true }]);
    assert.deepEqual(updated?.recipients.map((r) => r.done === true), [false, true]);
    assert.equal((await store.get(m.id))?.recipients[1]!.done, true);
    const both = await store.updateRecipients(m.id, [{ index: 0 }, { index: 1, done: false }]);
    assert.deepEqual(both?.recipients.map((r) => r.done === true), [true, false]);
    assert.deepEqual((await store.get(m.id))?.recipients[0]!.notify, ['FAILURE', 'DELAY']);
    await assert.rejects(store.updateRecipients(m.id, [{ index: 2, done: true }]), rejectsWith('POSTERN_ERR_QUEUE_WRITE'));
    assert.equal(await store.updateRecipients('4SVLCh0sf8z1', [{ index: 0 }]), undefined);
  });

  withStore('delivery logs append in order, read back, delete; delete removes message, content and logs', async (store) => {
    const m = await put(store, randomBytes(65536 + 10));
    const other = await put(store, 'other');
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
    assert.equal(await store.delete(m.id), true);
    assert.equal(await store.delete(m.id), false);
    assert.equal(await store.get(m.id), undefined);
    await assert.rejects(collect(store.readContent(m.id)), rejectsWith('POSTERN_ERR_QUEUE_NOT_FOUND'));
    for (const log of Object.values(DELIVERY_LOG)) assert.deepEqual(await store.readLog(log, m.id), []);
    await assert.rejects(store.appendLog(DELIVERY_LOG.DEFER, m.id, logRecord('late@x')), rejectsWith('POSTERN_ERR_QUEUE_NOT_FOUND'));
    assert.equal((await store.readLog(DELIVERY_LOG.DEFER, other.id)).length, 1, 'other logs untouched');
  });

  withStore('count follows commits, moves and deletes in every queue', async (store) => {
    const ms: QueuedMessage[] = [];
    for (let i = 0; i < 10; i++) ms.push(await put(store, `c${i}`));
    await store.move(ms[0]!.id, QUEUE.ACTIVE);
    await store.move(ms[1]!.id, QUEUE.HOLD);
    await store.move(ms[2]!.id, QUEUE.CORRUPT);
    await store.move(ms[3]!.id, QUEUE.DEFERRED, { nextAttempt: 1 });
    await store.delete(ms[4]!.id);
    const counts = Object.fromEntries(await Promise.all(Object.values(QUEUE).map(async (q) => [q, await store.count(q)])));
    assert.deepEqual(counts, { maildrop: 0, incoming: 5, active: 1, deferred: 1, hold: 1, corrupt: 1 });
  });

  withStore('many concurrent commits all land', async (store) => {
    const writers = Array.from({ length: 500 }, (_, i) => {
      const w = store.createWriter();
      w.write(Buffer.from(`message ${i}\r\n`.repeat(100)));
      return w;
    });
    const done = await Promise.all(writers.map((w) => w.commit(envelope())));
    assert.equal(new Set(done.map((m) => m.id)).size, 500);
    assert.equal(await store.count(QUEUE.INCOMING), 500);
    assert.equal((await contentOf(store, done[123]!.id)).toString(), 'message 123\r\n'.repeat(100));
  });
}
