import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DELIVERY_LOG, QUEUE, SERVICE, sendTrigger, TRIGGER, type QueueStore } from '@postern/core';
import { Harness, until } from './harness.js';

const rcpt = (address: string, extra: object = {}) => ({ address, ...extra });
const HOUR = 3_600_000;

async function withHarness(options: ConstructorParameters<typeof Harness>[0], fn: (h: Harness) => Promise<void>) {
  const h = await new Harness(options).start();
  try {
    await fn(h);
  } finally {
    await h.close();
  }
}

test('incoming -> delivered -> removed, with Postfix log lines', () =>
  withHarness({}, async (h) => {
    const m = await h.submit({ recipients: [rcpt('a@fast.example', { original: 'A@Alias.example' }), rcpt('b@fast.example')] });
    await sendTrigger(SERVICE.QMGR, h.qmgrSocket, TRIGGER.SCAN_INCOMING);
    await h.drained();
    const smtp = h.agents[SERVICE.SMTP]!;
    assert.equal(smtp.requests.length, 1);
    const req = smtp.requests[0]!;
    assert.equal(req.queueId, m.id);
    assert.equal(req.nexthop, 'fast.example');
    assert.deepEqual(req.recipients.map((r) => [r.index, r.address]), [[0, 'a@fast.example'], [1, 'b@fast.example']]);
    assert.ok(req.activeTime! >= req.arrivalTime);
    assert.deepEqual(h.log.grep(new RegExp(`^${m.id}: `)), [
      `${m.id}: from=<sender@example.com>, size=${m.size}, nrcpt=2 (queue active)`,
      `${m.id}: removed`,
    ]);
    const lines = h.agentLog.grep(/status=sent/);
    assert.equal(lines.length, 2);
    assert.match(
      lines.find((l) => l.includes('to=<a@'))!,
      new RegExp(
        `^${m.id}: to=<a@fast\\.example>, orig_to=<A@Alias\\.example>, relay=fast\\.example\\[192\\.0\\.2\\.9\\]:25, ` +
          `delay=[\\d.]+, delays=[\\d.]+/[\\d.]+/[\\d.]+/[\\d.]+, dsn=2\\.0\\.0, status=sent \\(250 2\\.0\\.0 Ok\\)$`,
      ),
    );
    assert.doesNotMatch(lines.find((l) => l.includes('to=<b@'))!, /orig_to/);
    assert.equal(await h.store.get(m.id), undefined);
    assert.deepEqual(h.notices, []);
  }));

test('mail committed while qmgr scans is picked up, and a trigger costs at most one incoming scan', () =>
  withHarness({}, async (h) => {
    await h.drained('start-up scans done');
    const store = h.store as QueueStore & { scan: QueueStore['scan'] };
    const scan = store.scan.bind(store);
    let scans = 0;
    store.scan = (queue, options) => {
      if (queue === QUEUE.INCOMING) scans++;
      return scan(queue, options);
    };
    const ids = new Set<string>();
    let triggers = 0;
    for (let i = 0; i < 40; i++) {
      const batch = await Promise.all(Array.from({ length: 1 + (i % 3) }, (_, j) => h.submit({ recipients: [rcpt(`u${i}.${j}@fast.example`)] })));
      for (const m of batch) ids.add(m.id);
      h.qmgr!.trigger(TRIGGER.SCAN_INCOMING);
      triggers++;
      if (i % 4 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    await h.drained();
    assert.ok(scans <= triggers, `${scans} incoming scans for ${triggers} triggers`);
    // One at a time, on an idle qmgr: the scan that finds the message is the only one.
    scans = 0;
    for (let i = 0; i < 10; i++) {
      ids.add((await h.submit({ recipients: [rcpt(`one${i}@fast.example`)] })).id);
      h.qmgr!.trigger(TRIGGER.SCAN_INCOMING);
      await h.drained();
    }
    assert.equal(scans, 10);
    const delivered = h.agents[SERVICE.SMTP]!.requests.map((r) => r.queueId);
    assert.deepEqual([...delivered].sort(), [...ids].sort());
  }));

test('recipients are grouped by transport and nexthop and split at the recipient limit', () =>
  withHarness({ mainCf: 'smtp_destination_recipient_limit = 2' }, async (h) => {
    const fast = ['1', '2', '3', '4', '5'].map((n) => rcpt(`u${n}@fast.example`));
    const slow = ['6', '7', '8'].map((n) => rcpt(`u${n}@slow.example`));
    const m = await h.submit({ recipients: [fast[0]!, slow[0]!, ...fast.slice(1), ...slow.slice(1), rcpt('me@localhost'), rcpt('you@localhost')] });
    h.qmgr!.trigger(TRIGGER.SCAN_INCOMING);
    await h.drained();
    const smtp = h.agents[SERVICE.SMTP]!.requests;
    const byHop = (hop: string) => smtp.filter((r) => r.nexthop === hop).map((r) => r.recipients.length).sort();
    assert.deepEqual(byHop('fast.example'), [1, 2, 2]);
    assert.deepEqual(byHop('slow.example'), [1, 2]);
    for (const r of smtp) assert.ok(r.recipients.every((x) => x.address.endsWith(`@${r.nexthop}`)));
    const delivered = smtp.flatMap((r) => r.recipients.map((x) => x.index)).sort((a, b) => a - b);
    assert.deepEqual(delivered, [0, 1, 2, 3, 4, 5, 6, 7]);
    // local_destination_recipient_limit defaults to the default (50) here: both in one request.
    const local = h.agents[SERVICE.LOCAL]!.requests;
    assert.equal(local.length, 1);
    assert.equal(local[0]!.queueId, m.id);
    assert.equal(local[0]!.transport, SERVICE.LOCAL);
    assert.equal(h.resolves, 10);
  }));

test('the destination concurrency limit and the transport process limit are never exceeded', () =>
  withHarness(
    { mainCf: 'smtp_destination_concurrency_limit = 3', processLimits: { [SERVICE.SMTP]: 4 } },
    async (h) => {
      h.agents[SERVICE.SMTP]!.delayMs = 15;
      for (let i = 0; i < 40; i++) {
        await h.submit({ recipients: [rcpt(`u${i}@one.example`)] });
        await h.submit({ recipients: [rcpt(`u${i}@two.example`)] });
        await h.submit({ recipients: [rcpt(`u${i}@three.example`)] });
      }
      h.qmgr!.trigger(TRIGGER.SCAN_INCOMING);
      await h.drained();
      const smtp = h.agents[SERVICE.SMTP]!;
      assert.equal(smtp.requests.length, 120);
      for (const hop of ['one.example', 'two.example', 'three.example']) {
        assert.ok(smtp.max.get(hop)! <= 3, `${hop}: ${smtp.max.get(hop)} parallel deliveries`);
      }
      assert.ok(smtp.maxBusy <= 4, `transport: ${smtp.maxBusy} parallel deliveries`);
      assert.ok(smtp.maxBusy >= 2, 'deliveries ran in parallel');
    },
  ));

test('a deferred recipient waits with back-off and its reason, the delivered one is never sent again, flush retries', () =>
  withHarness({}, async (h) => {
    const before = Date.now();
    const m = await h.submit({ recipients: [rcpt('ok@fast.example'), rcpt('defer-once@fast.example')] });
    h.qmgr!.trigger(TRIGGER.SCAN_INCOMING);
    await until(async () => (await h.count(QUEUE.DEFERRED)) === 1, 'message deferred');
    const after = Date.now();
    const d = (await h.store.get(m.id))!;
    assert.equal(d.queue, QUEUE.DEFERRED);
    assert.equal(d.reason, 'mailbox busy');
    assert.equal(d.attempts, 1);
    assert.equal(d.recipients[0]!.done, true);
    assert.ok(!d.recipients[1]!.done);
    // A fresh message waits minimal_backoff_time (300s).
    assert.ok(d.nextAttempt! >= before + 300_000 && d.nextAttempt! <= after + 300_000, `nextAttempt ${d.nextAttempt}`);
    assert.deepEqual(
      h.appends.filter((a) => a.log === DELIVERY_LOG.DEFER).map((a) => [a.queueId, a.record.recipient, a.record.status, a.record.action]),
      [[m.id, 'defer-once@fast.example', '4.2.1', 'delayed']],
    );
    assert.equal(h.agentLog.grep(/status=deferred \(mailbox busy\)$/).length, 1);

    // Not due: a plain deferred scan leaves it alone.
    h.qmgr!.trigger(TRIGGER.SCAN_DEFERRED);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(await h.count(QUEUE.DEFERRED), 1);
    assert.equal(h.agents[SERVICE.SMTP]!.requests.length, 1);

    await sendTrigger(SERVICE.QMGR, h.qmgrSocket, TRIGGER.FLUSH_DEAD + TRIGGER.SCAN_DEFERRED + TRIGGER.SCAN_ALL);
    await until(async () => (await h.store.get(m.id)) === undefined, 'message removed after flush');
    const reqs = h.agents[SERVICE.SMTP]!.requests;
    assert.equal(reqs.length, 2);
    assert.deepEqual(reqs[1]!.recipients.map((r) => r.address), ['defer-once@fast.example']);
    assert.equal(h.log.grep(new RegExp(`^${m.id}: removed$`)).length, 1);
  }));

test('back-off doubles with the message age between minimal and maximal_backoff_time', async () => {
  const { backoffDelay } = await import('../src/qmgr-defer.js');
  const params = { minBackoff: 300_000, maxBackoff: 4_000_000 } as Parameters<typeof backoffDelay>[0];
  const cases: [number, number][] = [
    [0, 300_000],
    [100_000, 300_000],
    [600_000, 600_000],
    [1_200_000, 1_200_000],
    [10_000_000, 4_000_000],
  ];
  for (const [age, want] of cases) assert.equal(backoffDelay(params, 1_000_000_000 - age, 1_000_000_000), want, `age ${age}`);
});

test('a bounced recipient is recorded, notify(bounce) is asked for, then the message is removed', () =>
  withHarness({}, async (h) => {
    const m = await h.submit({ recipients: [rcpt('bounce-me@fast.example'), rcpt('ok@fast.example')] });
    h.qmgr!.trigger(TRIGGER.SCAN_INCOMING);
    await h.drained();
    assert.deepEqual(h.notices, [{ kind: 'bounce', queueId: m.id }]);
    const b = h.appends.filter((a) => a.log === DELIVERY_LOG.BOUNCE);
    assert.deepEqual(b.map((a) => [a.record.recipient, a.record.status, a.record.action, a.record.reason]), [
      ['bounce-me@fast.example', '5.1.1', 'failed', 'user unknown'],
    ]);
    assert.equal(h.agentLog.grep(/to=<bounce-me@fast\.example>.*dsn=5\.1\.1, status=bounced \(user unknown\)$/).length, 1);
    assert.equal(await h.store.get(m.id), undefined);
    assert.equal(h.log.grep(new RegExp(`^${m.id}: removed$`)).length, 1);
  }));

test('NOTIFY=SUCCESS recipients get a success notice', () =>
  withHarness({}, async (h) => {
    const m = await h.submit({ recipients: [rcpt('ok@fast.example', { notify: ['SUCCESS'] }), rcpt('two@fast.example')] });
    h.qmgr!.trigger(TRIGGER.SCAN_INCOMING);
    await h.drained();
    assert.deepEqual(h.notices, [{ kind: 'success', queueId: m.id }]);
    assert.deepEqual(h.appends.filter((a) => a.log === DELIVERY_LOG.TRACE).map((a) => a.record.recipient), ['ok@fast.example']);
  }));

test('an expired message is returned to the sender; the null sender expires after bounce_queue_lifetime', () =>
  withHarness({ mainCf: 'bounce_queue_lifetime = 1h' }, async (h) => {
    const old = Date.now() - 6 * 24 * HOUR;
    const expired = await h.submit({ arrivalTime: old, recipients: [rcpt('defer-always@fast.example'), rcpt('ok@fast.example')] });
    const nullOld = await h.submit({ sender: '', arrivalTime: Date.now() - 2 * HOUR, recipients: [rcpt('defer-x@fast.example')] });
    const young = await h.submit({ arrivalTime: Date.now() - 2 * HOUR, recipients: [rcpt('defer-y@fast.example')] });
    h.qmgr!.trigger(TRIGGER.SCAN_INCOMING);
    await until(async () => (await h.count(QUEUE.DEFERRED)) === 1 && h.qmgr!.stats().messages === 0, 'one deferred, two returned');
    assert.deepEqual(h.log.grep(/status=expired/).sort(), [
      `${expired.id}: from=<sender@example.com>, status=expired, returned to sender`,
      `${nullOld.id}: from=<>, status=expired, returned to sender`,
    ].sort());
    const bounced = h.appends.filter((a) => a.log === DELIVERY_LOG.BOUNCE);
    assert.deepEqual(bounced.map((a) => [a.queueId, a.record.recipient, a.record.action, a.record.reason]).sort(), [
      [expired.id, 'defer-always@fast.example', 'failed', 'mailbox busy'],
      [nullOld.id, 'defer-x@fast.example', 'failed', 'mailbox busy'],
    ].sort());
    assert.deepEqual(h.notices.map((n) => [n.kind, n.queueId]).sort(), [['bounce', expired.id], ['bounce', nullOld.id]].sort());
    assert.equal(await h.store.get(expired.id), undefined);
    assert.equal(await h.store.get(nullOld.id), undefined);
    assert.equal((await h.store.get(young.id))?.queue, QUEUE.DEFERRED);
  }));

test('a delay warning is sent once', () =>
  withHarness({ mainCf: 'delay_warning_time = 1h' }, async (h) => {
    const m = await h.submit({ arrivalTime: Date.now() - 2 * HOUR, recipients: [rcpt('defer-a@fast.example')] });
    const fresh = await h.submit({ recipients: [rcpt('defer-b@fast.example')] });
    h.qmgr!.trigger(TRIGGER.SCAN_INCOMING);
    await until(async () => (await h.count(QUEUE.DEFERRED)) === 2, 'both deferred');
    assert.deepEqual(h.notices, [{ kind: 'delay', queueId: m.id }]);
    assert.ok((await h.store.get(m.id))!.warned! > 0);
    assert.equal((await h.store.get(fresh.id))!.warned, undefined);
    // Two-hour-old mail would wait as long as it is old (2h), but maximal_backoff_time (4000s) caps it.
    const next = (await h.store.get(m.id))!.nextAttempt!;
    assert.ok(next <= Date.now() + 4_000_000 && next >= Date.now() + 4_000_000 - 60_000, `nextAttempt in ${next - Date.now()}ms`);
    for (let i = 0; i < 2; i++) {
      const attempts = h.agents[SERVICE.SMTP]!.requests.length;
      h.qmgr!.trigger(TRIGGER.SCAN_DEFERRED + TRIGGER.SCAN_ALL);
      await until(() => h.agents[SERVICE.SMTP]!.requests.length === attempts + 2, 'retried');
      await until(async () => (await h.count(QUEUE.DEFERRED)) === 2 && h.qmgr!.stats().messages === 0, 'deferred again');
    }
    assert.deepEqual(h.notices, [{ kind: 'delay', queueId: m.id }]);
  }));

test('a dead destination is suspended while other mail keeps flowing', () =>
  withHarness({}, async (h) => {
    h.agents[SERVICE.SMTP]!.delayMs = 5;
    const down: string[] = [];
    const up: string[] = [];
    for (let i = 0; i < 30; i++) {
      down.push((await h.submit({ recipients: [rcpt(`u${i}@down.example`)] })).id);
      up.push((await h.submit({ recipients: [rcpt(`u${i}@up.example`)] })).id);
    }
    h.qmgr!.trigger(TRIGGER.SCAN_INCOMING);
    await h.drained();
    const smtp = h.agents[SERVICE.SMTP]!;
    const tried = smtp.requests.filter((r) => r.nexthop === 'down.example').length;
    assert.ok(tried < 30, `down.example was tried ${tried} times`);
    assert.equal(smtp.requests.filter((r) => r.nexthop === 'up.example').length, 30);
    for (const id of up) assert.equal(await h.store.get(id), undefined);
    const suspended = h.log.grep(/relay=none, .*dsn=4\.4\.1, status=deferred \(delivery temporarily suspended: connect to down\.example\[192\.0\.2\.1\]:25: Connection refused\)$/);
    assert.equal(suspended.length, 30 - tried);
    for (const id of down) {
      const m = (await h.store.get(id))!;
      assert.equal(m.queue, QUEUE.DEFERRED);
      assert.match(m.reason!, /connect to down\.example\[192\.0\.2\.1\]:25: Connection refused$/);
    }
    // New mail for the dead site is deferred at once, without a delivery attempt.
    const late = await h.submit({ recipients: [rcpt('late@down.example')] });
    h.qmgr!.trigger(TRIGGER.SCAN_INCOMING);
    await until(async () => (await h.store.get(late.id))?.queue === QUEUE.DEFERRED, 'late mail deferred');
    assert.equal(smtp.requests.filter((r) => r.nexthop === 'down.example').length, tried);
    // F revives it.
    h.qmgr!.trigger(TRIGGER.FLUSH_DEAD + TRIGGER.SCAN_DEFERRED + TRIGGER.SCAN_ALL);
    await until(() => smtp.requests.filter((r) => r.nexthop === 'down.example').length > tried, 'tried again after F');
  }));

test('an unreachable transport is suspended: "mail transport unavailable"', () =>
  withHarness({}, async (h) => {
    const m = await h.submit({ recipients: [rcpt('x@nowhere.example'), rcpt('y@fast.example')] });
    h.qmgr!.trigger(TRIGGER.SCAN_INCOMING);
    await until(async () => (await h.store.get(m.id))?.queue === QUEUE.DEFERRED && h.qmgr!.stats().messages === 0, 'deferred');
    assert.equal(h.log.grep(/^warning: connect to transport private\/nosuch: No such file or directory$/).length, 1);
    assert.equal(h.log.grep(new RegExp(`^${m.id}: to=<x@nowhere\\.example>, relay=none, .*dsn=4\\.3\\.0, status=deferred \\(mail transport unavailable\\)$`)).length, 1);
    const d = (await h.store.get(m.id))!;
    assert.equal(d.reason, 'mail transport unavailable');
    assert.equal(d.recipients[1]!.done, true);
  }));

test('resolver errors go to the error transport (bounce) and failures to retry (defer)', () =>
  withHarness({}, async (h) => {
    const m = await h.submit({ recipients: [rcpt('x@bad.example'), rcpt('u@gone.example'), rcpt('z@fail.example')] });
    h.qmgr!.trigger(TRIGGER.SCAN_INCOMING);
    await until(async () => (await h.store.get(m.id))?.queue === QUEUE.DEFERRED && h.qmgr!.stats().messages === 0, 'deferred');
    const err = h.agents[SERVICE.ERROR]!.requests;
    assert.deepEqual(err.map((r) => r.nexthop).sort(), ['5.1.1 user unknown', '5.1.3 bad address syntax']);
    assert.deepEqual(h.agents[SERVICE.RETRY]!.requests.map((r) => r.nexthop), ['4.3.0 address resolver failure']);
    const bounced = h.appends.filter((a) => a.log === DELIVERY_LOG.BOUNCE).map((a) => [a.record.recipient, a.record.status]).sort();
    assert.deepEqual(bounced, [['u@gone.example', '5.1.1'], ['x@bad.example', '5.1.3']]);
    assert.deepEqual(h.notices, [{ kind: 'bounce', queueId: m.id }]);
    assert.equal((await h.store.get(m.id))!.reason, 'address resolver failure');
  }));

test('the hold queue is never touched', () =>
  withHarness({}, async (h) => {
    const held = await h.submit({ recipients: [rcpt('held@fast.example')] }, QUEUE.HOLD);
    const m = await h.submit({ recipients: [rcpt('free@fast.example')] });
    h.qmgr!.trigger(TRIGGER.SCAN_INCOMING + TRIGGER.SCAN_DEFERRED + TRIGGER.SCAN_ALL);
    await until(async () => (await h.store.get(m.id)) === undefined, 'free mail delivered');
    await h.drained();
    assert.equal((await h.store.get(held.id))?.queue, QUEUE.HOLD);
    assert.ok(h.agents[SERVICE.SMTP]!.requests.every((r) => r.queueId !== held.id));
  }));

test('at start, mail left in the active queue goes back to incoming; done recipients stay done', () =>
  withHarness({ noQmgr: true }, async (h) => {
    const m = await h.submit({ recipients: [rcpt('one@fast.example'), rcpt('two@fast.example'), rcpt('three@slow.example')] });
    await h.store.updateRecipients(m.id, [{ index: 0, done: true }]);
    await h.store.move(m.id, QUEUE.ACTIVE);
    const n = await h.submit({ recipients: [rcpt('four@fast.example')] }, QUEUE.ACTIVE);
    await h.startQmgr();
    await h.drained();
    const got = h.agents[SERVICE.SMTP]!.requests.flatMap((r) => r.recipients.map((x) => x.address)).sort();
    assert.deepEqual(got, ['four@fast.example', 'three@slow.example', 'two@fast.example']);
    assert.equal(await h.store.get(m.id), undefined);
    assert.equal(await h.store.get(n.id), undefined);
    assert.ok(h.log.grep(/^moved 2 message\(s\) from the active queue back to incoming$/).length === 1);
  }));

test('a move into active the store applied but could not confirm: the message goes back to incoming and is delivered', () =>
  withHarness({ noQmgr: true }, async (h) => {
    // a Redis failover: the old master applies the move, its reply is lost
    const move = h.store.move.bind(h.store);
    let lost = 0;
    h.store.move = async (id, to, state) => {
      const moved = await move(id, to, state);
      if (to === QUEUE.ACTIVE && lost++ < 2) throw new Error('Connection is closed.');
      return moved;
    };
    const ids = [];
    for (let i = 0; i < 4; i++) ids.push((await h.submit({ recipients: [rcpt(`m${i}@fast.example`)] })).id);
    await h.startQmgr();
    for (const id of ids) await until(async () => (await h.store.get(id)) === undefined, `${id} delivered and removed`);
    await h.drained();
    const got = h.agents[SERVICE.SMTP]!.requests.flatMap((r) => r.recipients.map((x) => x.address)).sort();
    assert.deepEqual(got, ['m0@fast.example', 'm1@fast.example', 'm2@fast.example', 'm3@fast.example'], 'each once');
    assert.equal(h.log.grep(/^warning: queue scan: Connection is closed\.$/).length, 1);
    assert.equal(h.log.grep(/^queue scan: 2 message\(s\) left in the active queue by a failed move returned to incoming$/).length, 1);
  }));

test('qmgr_message_recipient_limit bounds the recipients held in memory', () =>
  withHarness({ noQmgr: true, mainCf: 'qmgr_message_recipient_limit = 10' }, async (h) => {
    h.agents[SERVICE.SMTP]!.delayMs = 2;
    for (let i = 0; i < 30; i++) {
      await h.submit({ recipients: [rcpt(`a${i}@one.example`), rcpt(`b${i}@two.example`), rcpt(`c${i}@three.example`)] });
    }
    const q = await h.startQmgr();
    await h.drained();
    assert.equal(h.agents[SERVICE.SMTP]!.requests.length, 90);
    // The first message of a batch always fits, so the limit is exceeded by less than one message.
    assert.ok(q.stats().maxRecipients <= 10 + 2, `held ${q.stats().maxRecipients} recipients`);
    assert.ok(q.stats().maxMessages >= 2);
  }));

test('a 20,000-message backlog flows through a bounded active queue', { timeout: 300_000 }, () =>
  withHarness({ noQmgr: true, mainCf: 'qmgr_message_active_limit = 1000' }, async (h) => {
    const total = 20_000;
    for (let i = 0; i < total; i += 500) {
      await Promise.all(
        Array.from({ length: Math.min(500, total - i) }, (_, k) =>
          h.submit({ recipients: [rcpt(`user${i + k}@d${(i + k) % 7}.example`)] }),
        ),
      );
    }
    let maxActive = 0;
    const sampler = setInterval(() => {
      void h.count(QUEUE.ACTIVE).then((n) => (maxActive = Math.max(maxActive, n)));
    }, 20);
    const started = Date.now();
    const q = await h.startQmgr();
    try {
      await until(async () => (await h.count(QUEUE.INCOMING)) === 0 && (await h.count(QUEUE.ACTIVE)) === 0 && q.stats().messages === 0, 'backlog delivered', 280_000);
    } finally {
      clearInterval(sampler);
    }
    const secs = (Date.now() - started) / 1000;
    if (process.env.QMGR_TEST_LOG || process.env.QMGR_BENCH) process.stderr.write(`backlog: ${total} messages in ${secs.toFixed(1)}s (${Math.round(total / secs)}/s)\n`);
    assert.equal(h.agents[SERVICE.SMTP]!.requests.length, total);
    assert.equal(q.stats().removed, total);
    assert.ok(q.stats().maxMessages <= 1000, `qmgr held ${q.stats().maxMessages} messages`);
    assert.ok(maxActive <= 1000, `active queue reached ${maxActive}`);
    assert.ok(q.stats().maxMessages > 1, 'messages were handled in parallel');
  }));

test('while new mail flows, a due deferred backlog is fed no faster than the new mail; then at full speed', { timeout: 120_000 }, () =>
  withHarness({}, async (h) => {
    await h.drained('start-up scans done');
    const backlog = new Set<string>();
    for (let i = 0; i < 2000; i += 500) {
      const batch = await Promise.all(Array.from({ length: 500 }, (_, k) => h.submit({ recipients: [rcpt(`old${i + k}@slow.example`)] }, QUEUE.DEFERRED)));
      for (const m of batch) backlog.add(m.id);
    }
    await Promise.all([...backlog].map((id) => h.store.move(id, QUEUE.DEFERRED, { nextAttempt: Date.now() - 1000, reason: 'earlier attempt', attempts: 1 })));
    // count what qmgr moves into active, from each side
    const store = h.store as QueueStore & { move: QueueStore['move'] };
    const move = store.move.bind(store);
    let fresh = 0;
    let old = 0;
    store.move = (id, to, state) => {
      if (to === QUEUE.ACTIVE) {
        if (backlog.has(id)) old++;
        else fresh++;
      }
      return move(id, to, state);
    };
    const newMail = async () => {
      await h.submit({ recipients: [rcpt(`new${fresh}@fast.example`)] });
      h.qmgr!.trigger(TRIGGER.SCAN_INCOMING);
    };
    await newMail();
    await until(async () => fresh === 1, 'the first new message taken');
    h.qmgr!.trigger(TRIGGER.SCAN_DEFERRED);
    for (let i = 0; i < 40; i++) {
      await newMail();
      await new Promise((r) => setTimeout(r, 10));
    }
    await until(async () => fresh === 41, 'the new mail taken');
    const oldDuringInflow = old;
    assert.ok(oldDuringInflow <= fresh, `${oldDuringInflow} deferred messages taken beside ${fresh} new ones`);
    await until(async () => old === backlog.size, 'the rest of the backlog taken once new mail stopped', 60_000);
    await h.drained();
  }));
