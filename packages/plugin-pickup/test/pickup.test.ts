/**
 * pickup(8) against a real LMDB queue store: postdrop writes maildrop
 * records, pickup hands them to a cleanup stand-in that answers as told.
 */
import { afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openQueueStore, type LmdbQueueStore } from '@postern/queue-lmdb';
import { QUEUE, type CleanupRequest, type CleanupResult, type CleanupService } from '@postern/core';
import { postdrop, readMaildropRecord } from '@postern/core';
import { createPickupScanner, pickupFile } from '../src/index.js';
import { MemoryLogger as TestLog } from '@postern/core';


type Answer = CleanupResult['status'] | 'throw';

class FakeCleanup implements CleanupService {
  readonly got: { request: CleanupRequest; content: string }[] = [];
  answer: Answer = 'queued';
  private n = 0;
  async submit(request: CleanupRequest, content: AsyncIterable<Buffer>, onQueueId?: (id: string) => void): Promise<CleanupResult> {
    if (this.answer === 'throw') throw new Error('connect to cleanup: ENOENT');
    const queueId = `C${String(++this.n).padStart(10, '0')}`;
    onQueueId?.(queueId);
    let text = '';
    for await (const c of content) text += c.toString();
    this.got.push({ request, content: text });
    const codes = { queued: [250, '2.0.0'], discarded: [250, '2.0.0'], tempfail: [451, '4.3.0'], rejected: [552, '5.3.4'] } as const;
    const [code, dsn] = codes[this.answer];
    return { status: this.answer, queueId, code, dsn, text: this.answer === 'rejected' ? 'Message size exceeds fixed limit' : 'x' };
  }
}

describe('pickup', () => {
  let dir: string;
  let store: LmdbQueueStore;
  let cleanup: FakeCleanup;
  let log: TestLog;
  const opts = () => ({ store, cleanup, log, myhostname: 'mail.example.test', mailName: 'Postern' });

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'postern-pickup-'));
    store = openQueueStore({ queueDirectory: dir });
    cleanup = new FakeCleanup();
    log = new TestLog();
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const drop = (extra: Record<string, unknown> = {}) =>
    postdrop(
      store,
      {
        sender: 'alice',
        recipients: [{ address: 'bob@example.test', notify: ['SUCCESS', 'FAILURE'] }],
        submitter: { user: 'alice', uid: 1234, fullName: 'Alice Liddell' },
        dsnRet: 'HDRS',
        dsnEnvid: 'env-1',
        ...extra,
      },
      [Buffer.from('Subject: hi\n\nbody\n')],
    );

  test('a maildrop message reaches cleanup with its envelope, and the maildrop copy goes', async () => {
    const m = await drop({ cleanupFlags: { extractRecipients: true }, traceFlags: ['record'] });
    assert.equal(m.queue, QUEUE.MAILDROP);
    const out = await pickupFile(m.id, opts());
    assert.equal(out.status, 'queued');
    assert.equal(await store.get(m.id), undefined);
    const [{ request, content }] = cleanup.got as [(typeof cleanup.got)[0]];
    assert.equal(request.sender, 'alice');
    assert.equal(request.origin, 'pickup');
    assert.deepEqual(request.recipients, [{ address: 'bob@example.test', notify: ['SUCCESS', 'FAILURE'], orcpt: undefined }]);
    assert.deepEqual(request.submitter, { user: 'alice', fullName: 'Alice Liddell' });
    assert.deepEqual(request.flags, { extractRecipients: true });
    assert.deepEqual(request.traceFlags, ['record']);
    assert.equal(request.dsnRet, 'HDRS');
    assert.equal(request.dsnEnvid, 'env-1');
    assert.equal(request.arrivalTime, m.arrivalTime);
    assert.match(content, /^Received: by mail\.example\.test \(Postern, from userid 1234\)\n\tid C0000000001; \w{3}, [ \d]\d \w{3} \d{4} [\d:]{8} [+-]\d{4}/);
    assert.ok(content.endsWith('\nSubject: hi\n\nbody\n'));
    assert.deepEqual(log.lines, ['C0000000001: uid=1234 from=<alice>']);
  });

  const malformed: [string, Record<string, unknown>, RegExp][] = [
    ['no submitter', { submitter: undefined }, /no submitter record/],
    ['uid not a number', { submitter: { user: 'x', uid: 'root' } }, /malformed submitter record/],
    ['newline in sender', { sender: 'a\nb' }, /malformed sender record/],
    ['bad notify', { recipients: [{ address: 'b@x', notify: ['SOMETIMES'] }] }, /malformed notify record/],
    ['no recipients, no -t', { recipients: [] }, /no recipients and no -t/],
    ['bad RET', { dsnRet: 'ALL' }, /malformed DSN RET record/],
  ];
  for (const [name, extra, warning] of malformed) {
    test(`malformed record goes to the corrupt queue: ${name}`, async () => {
      const m = await drop(extra);
      assert.equal(typeof readMaildropRecord(m), 'string');
      const out = await pickupFile(m.id, opts());
      assert.equal(out.status, 'corrupt');
      assert.equal((await store.get(m.id))?.queue, QUEUE.CORRUPT);
      assert.equal(cleanup.got.length, 0);
      assert.ok(log.lines.some((l) => l.startsWith('warning: uid=') && warning.test(l)), log.lines.join('\n'));
    });
  }

  test('a temporary cleanup failure keeps the message in maildrop', async () => {
    const m = await drop();
    cleanup.answer = 'tempfail';
    assert.equal((await pickupFile(m.id, opts())).status, 'deferred');
    assert.equal((await store.get(m.id))?.queue, QUEUE.MAILDROP);
    cleanup.answer = 'throw';
    assert.equal((await pickupFile(m.id, opts())).status, 'deferred');
    assert.equal((await store.get(m.id))?.queue, QUEUE.MAILDROP);
  });

  test('soft_bounce: a permanent refusal keeps the message in maildrop, to be tried again', async () => {
    const m = await drop();
    cleanup.answer = 'rejected';
    const out = await pickupFile(m.id, { ...opts(), softBounce: true });
    assert.equal(out.status, 'deferred');
    assert.equal((await store.get(m.id))?.queue, QUEUE.MAILDROP);
    assert.ok(log.lines.some((l) => /rejected by cleanup: 552 5\.3\.4 .*; soft_bounce: will retry$/.test(l)), log.lines.join('\n'));
    // once cleanup takes it, it is queued as any other
    cleanup.answer = 'queued';
    assert.equal((await pickupFile(m.id, { ...opts(), softBounce: true })).status, 'queued');
  });

  test('a permanent refusal moves the message to the corrupt queue with a warning', async () => {
    const m = await drop();
    cleanup.answer = 'rejected';
    assert.equal((await pickupFile(m.id, opts())).status, 'corrupt');
    const kept = await store.get(m.id);
    assert.equal(kept?.queue, QUEUE.CORRUPT);
    assert.match(kept?.reason ?? '', /552 5\.3\.4 Message size exceeds fixed limit/);
    assert.ok(log.lines.some((l) => /rejected by cleanup: 552 5\.3\.4/.test(l)));
  });

  test('the scanner empties the maildrop queue; repeated triggers during a scan make one more scan', async () => {
    const a = await drop();
    const b = await drop({ sender: 'carol' });
    const scanner = createPickupScanner(opts());
    const first = scanner.scan();
    const c = await drop({ sender: 'dave' });
    void scanner.scan();
    void scanner.scan();
    await first;
    await scanner.idle();
    assert.equal(await store.count(QUEUE.MAILDROP), 0);
    assert.deepEqual(cleanup.got.map((g) => g.request.sender).sort(), ['alice', 'carol', 'dave']);
    for (const m of [a, b, c]) assert.equal(await store.get(m.id), undefined);
  });

  test('the scanner stops at the first deferral and leaves the rest for later', async () => {
    await drop();
    await drop();
    cleanup.answer = 'throw';
    const scanner = createPickupScanner(opts());
    await scanner.scan();
    assert.equal(await store.count(QUEUE.MAILDROP), 2);
    cleanup.answer = 'queued';
    await scanner.scan();
    assert.equal(await store.count(QUEUE.MAILDROP), 0);
  });
});
