import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { simpleParser } from 'mailparser';
import { DELIVERY_LOG, isPosternError, newQueueId, type DeliveryLogRecord, type Envelope } from '@postern/core';
import { startHarness, type Harness } from './helpers.js';
import { contentType, header, readReport } from './mime.js';

const HOUR = 3600 * 1000;
const ORIGINAL = [
  'Received: from client.example.org (client.example.org [192.0.2.10])',
  '\tby mx.example.com (Postern) with ESMTP id 4ABC',
  'From: Alice <alice@example.org>',
  'To: bob@remote.example',
  'Subject: quarterly numbers',
  'Message-Id: <q1@example.org>',
  '',
  'The body of the original message.',
  'Second line.',
  '',
].join('\r\n');

function envelope(over: Partial<Envelope> = {}): Envelope {
  return {
    sender: 'alice@example.org',
    recipients: [{ address: 'bob@remote.example' }],
    arrivalTime: Date.now() - HOUR,
    ...over,
  };
}

function failed(recipient: string, over: Partial<DeliveryLogRecord> = {}): DeliveryLogRecord {
  return {
    recipient,
    status: '5.1.1',
    action: 'failed',
    diagnostic: `smtp; 550 5.1.1 <${recipient}>: Recipient address rejected: User unknown`,
    remoteMta: 'dns; mx.remote.example',
    reason: `host mx.remote.example[192.0.2.1] said: 550 5.1.1 <${recipient}>: Recipient address rejected: User unknown (in reply to RCPT TO command)`,
    relay: 'mx.remote.example[192.0.2.1]:25',
    time: Date.now(),
    ...over,
  };
}

function delayed(recipient: string, over: Partial<DeliveryLogRecord> = {}): DeliveryLogRecord {
  return {
    recipient,
    status: '4.4.1',
    action: 'delayed',
    reason: 'connect to mx.remote.example[192.0.2.1]:25: Connection timed out',
    time: Date.now(),
    ...over,
  };
}

async function withHarness(settings: Record<string, string>, fn: (h: Harness) => Promise<void>): Promise<void> {
  const h = await startHarness(settings);
  try {
    await fn(h);
  } finally {
    await h.close();
  }
}

test('non-delivery notice: RFC 3464 structure, headers, per-recipient fields, log deleted', () =>
  withHarness({}, async (h) => {
    const msg = await h.add(
      envelope({
        recipients: [
          { address: 'bob@remote.example', orcpt: 'rfc822;Bob@Remote.Example', notify: ['FAILURE'] },
          { address: 'carol@remote.example', original: 'team@example.org' },
        ],
        dsnEnvid: 'QQ314159',
      }),
      ORIGINAL,
    );
    await h.bounce.append(DELIVERY_LOG.BOUNCE, msg.id, failed('bob@remote.example', { orcpt: 'rfc822;Bob@Remote.Example', notify: ['FAILURE'] }));
    await h.bounce.append(
      DELIVERY_LOG.BOUNCE,
      msg.id,
      failed('carol@remote.example', { original: 'team@example.org', diagnostic: undefined, remoteMta: undefined, status: '5.4.6', reason: 'mail forwarding loop for carol@remote.example' }),
    );

    const result = await h.bounce.notify('bounce', msg.id);
    assert.equal(h.cleanup.submitted.length, 1);
    const [sub] = h.cleanup.submitted;
    assert.ok(sub);
    assert.deepEqual(result, { queueId: sub.queueId, count: 2 });
    assert.equal(sub.request.sender, '');
    assert.deepEqual(sub.request.recipients, [{ address: 'alice@example.org' }]);
    assert.equal(sub.request.origin, 'bounce');
    assert.deepEqual(sub.request.flags, { noHeaderBodyChecks: true, noBccMaps: true });

    const r = readReport(sub.content);
    assert.equal(header(r.top, 'from'), 'Mail Delivery System <MAILER-DAEMON@mx.example.com>');
    assert.equal(header(r.top, 'to'), 'alice@example.org');
    assert.equal(header(r.top, 'subject'), 'Undelivered Mail Returned to Sender');
    assert.equal(header(r.top, 'auto-submitted'), 'auto-replied');
    assert.equal(header(r.top, 'mime-version'), '1.0');
    assert.match(header(r.top, 'message-id') ?? '', /^<[^<>@\s]+@mx\.example\.com>$/);
    assert.ok(!Number.isNaN(Date.parse(header(r.top, 'date') ?? '')));

    assert.match(r.text, /^This is the mail system at host mx\.example\.com\.\n\nI'm sorry to have to inform you that your message could not\nbe delivered to one or more recipients\. It's attached below\./);
    assert.match(r.text, /\n {19}The mail system\n/);
    assert.match(r.text, /\n<bob@remote\.example>: host mx\.remote\.example\[192\.0\.2\.1\] said: 550 5\.1\.1\n {4}<bob@remote\.example>/);
    assert.match(r.text, /\n<carol@remote\.example> \(expanded from <team@example\.org>\): mail forwarding loop\n {4}for carol@remote\.example/);
    for (const line of r.text.split('\n')) assert.ok(line.length <= 79, `wrapped: ${line}`);

    assert.equal(r.perMessage.get('reporting-mta'), 'dns; mx.example.com');
    assert.equal(r.perMessage.get('original-envelope-id'), 'QQ314159');
    assert.equal(r.perMessage.get('x-postfix-queue-id'), msg.id);
    assert.equal(r.perMessage.get('x-postfix-sender'), 'rfc822; alice@example.org');
    assert.equal(Date.parse(r.perMessage.get('arrival-date') ?? ''), Math.floor(msg.arrivalTime / 1000) * 1000);

    assert.equal(r.perRecipient.length, 2);
    const [bob, carol] = r.perRecipient as [Map<string, string>, Map<string, string>];
    assert.equal(bob.get('final-recipient'), 'rfc822; bob@remote.example');
    assert.equal(bob.get('original-recipient'), 'rfc822; Bob@Remote.Example');
    assert.equal(bob.get('action'), 'failed');
    assert.equal(bob.get('status'), '5.1.1');
    assert.equal(bob.get('remote-mta'), 'dns; mx.remote.example');
    assert.equal(bob.get('diagnostic-code'), 'smtp; 550 5.1.1 <bob@remote.example>: Recipient address rejected: User unknown');
    assert.ok(bob.has('last-attempt-date'));
    assert.ok(!bob.has('will-retry-until'));
    assert.equal(carol.get('original-recipient'), 'rfc822; team@example.org');
    assert.equal(carol.get('status'), '5.4.6');
    assert.equal(carol.get('diagnostic-code'), 'X-Postfix; mail forwarding loop for carol@remote.example');
    assert.ok(!carol.has('remote-mta'));

    // No RET and a small message: the whole message comes back.
    assert.equal(contentType(header(r.original, 'content-type')).type, 'message/rfc822');
    assert.equal(header(r.original, 'content-description'), 'Undelivered Message');
    assert.equal(r.original.body, `Return-Path: <alice@example.org>\n${ORIGINAL.replace(/\r\n/g, '\n')}`);

    // mailparser agrees on the outer structure and the returned message.
    const parsed = await simpleParser(sub.content);
    assert.equal(parsed.subject, 'Undelivered Mail Returned to Sender');
    const att = parsed.attachments.find((a) => a.contentType === 'message/rfc822');
    assert.ok(att, 'message/rfc822 attachment');
    const inner = await simpleParser(att.content);
    assert.equal(inner.subject, 'quarterly numbers');
    assert.equal(inner.text?.trim(), 'The body of the original message.\nSecond line.');

    assert.deepEqual(await h.queue.readLog(DELIVERY_LOG.BOUNCE, msg.id), []);
    assert.ok(h.log.texts().includes(`${msg.id}: sender non-delivery notification: ${sub.queueId}`));
  }));

test('RET=HDRS returns the headers only; RET=FULL the message; bounce_size_limit forces headers only', () =>
  withHarness({ bounce_size_limit: '2000' }, async (h) => {
    const cases: { name: string; over: Partial<Envelope>; content: string; type: string; bodyReturned: boolean }[] = [
      { name: 'RET=HDRS', over: { dsnRet: 'HDRS' }, content: ORIGINAL, type: 'text/rfc822-headers', bodyReturned: false },
      { name: 'RET=FULL', over: { dsnRet: 'FULL' }, content: ORIGINAL, type: 'message/rfc822', bodyReturned: true },
      { name: 'RET=FULL, over the limit', over: { dsnRet: 'FULL' }, content: ORIGINAL + 'x'.repeat(70).concat('\r\n').repeat(40), type: 'text/rfc822-headers', bodyReturned: false },
      { name: 'no RET, over the limit', over: {}, content: ORIGINAL + 'y'.repeat(70).concat('\r\n').repeat(40), type: 'text/rfc822-headers', bodyReturned: false },
    ];
    for (const c of cases) {
      const msg = await h.add(envelope(c.over), c.content);
      await h.bounce.append(DELIVERY_LOG.BOUNCE, msg.id, failed('bob@remote.example'));
      const before = h.cleanup.submitted.length;
      await h.bounce.notify('bounce', msg.id);
      const sub = h.cleanup.submitted[before];
      assert.ok(sub, c.name);
      const r = readReport(sub.content);
      assert.equal(contentType(header(r.original, 'content-type')).type, c.type, c.name);
      assert.equal(header(r.original, 'content-description'), c.bodyReturned ? 'Undelivered Message' : 'Undelivered Message Headers', c.name);
      assert.equal(r.original.body.includes('The body of the original message.'), c.bodyReturned, c.name);
      assert.match(r.original.body, /^Return-Path: <alice@example\.org>\nReceived: from client/, c.name);
      assert.match(r.original.body, /Message-Id: <q1@example\.org>/, c.name);
    }
  }));

test('DSN NOTIFY: NEVER suppresses, FAILURE-only recipients get no delay notice, postmaster copies override', () =>
  withHarness({ notify_classes: 'bounce, delay' }, async (h) => {
    const msg = await h.add(
      envelope({
        recipients: [
          { address: 'never@remote.example', notify: ['NEVER'] },
          { address: 'default@remote.example' },
          { address: 'delay@remote.example', notify: ['DELAY'] },
          { address: 'fail@remote.example', notify: ['FAILURE'] },
        ],
      }),
      ORIGINAL,
    );
    await h.bounce.append(DELIVERY_LOG.BOUNCE, msg.id, failed('never@remote.example', { notify: ['NEVER'] }));
    await h.bounce.append(DELIVERY_LOG.BOUNCE, msg.id, failed('default@remote.example'));
    await h.bounce.append(DELIVERY_LOG.BOUNCE, msg.id, failed('delay@remote.example', { notify: ['DELAY'] }));
    await h.bounce.append(DELIVERY_LOG.BOUNCE, msg.id, failed('fail@remote.example', { notify: ['FAILURE'] }));
    const result = await h.bounce.notify('bounce', msg.id);
    assert.equal(result.count, 2);
    assert.equal(h.cleanup.submitted.length, 2, 'sender notice and postmaster copy');
    const [toSender, toPostmaster] = h.cleanup.submitted as [(typeof h.cleanup.submitted)[0], (typeof h.cleanup.submitted)[0]];
    const finals = (c: string) => readReport(c).perRecipient.map((g) => g.get('final-recipient'));
    assert.deepEqual(finals(toSender.content), ['rfc822; default@remote.example', 'rfc822; fail@remote.example']);
    assert.doesNotMatch(readReport(toSender.content).text, /never@remote|delay@remote/);

    // notify_classes=bounce: the postmaster gets every recipient and the headers only.
    assert.equal(toPostmaster.request.sender, 'double-bounce@mx.example.com');
    assert.deepEqual(toPostmaster.request.recipients, [{ address: 'postmaster@mx.example.com' }]);
    const pm = readReport(toPostmaster.content);
    assert.equal(header(pm.top, 'subject'), 'Postmaster Copy: Undelivered Mail');
    assert.equal(header(pm.top, 'auto-submitted'), 'auto-generated');
    assert.equal(pm.perRecipient.length, 4);
    assert.equal(contentType(header(pm.original, 'content-type')).type, 'text/rfc822-headers');
    assert.doesNotMatch(pm.text, /This is the mail system/, 'no boilerplate in postmaster copies');
    assert.ok(h.log.texts().includes(`${msg.id}: postmaster non-delivery notification: ${toPostmaster.queueId}`));

    // All recipients NOTIFY=NEVER: no notice to the sender, yet the log is done with.
    const quiet = await h.add(envelope({ recipients: [{ address: 'x@remote.example', notify: ['NEVER'] }] }), ORIGINAL);
    await h.bounce.append(DELIVERY_LOG.BOUNCE, quiet.id, failed('x@remote.example', { notify: ['NEVER'] }));
    const before = h.cleanup.submitted.length;
    assert.deepEqual(await h.bounce.notify('bounce', quiet.id), { count: 0 });
    assert.ok(h.cleanup.submitted.slice(before).every((s) => s.request.sender !== ''), 'nothing to the sender');
    assert.deepEqual(await h.queue.readLog(DELIVERY_LOG.BOUNCE, quiet.id), []);

    // Delay warnings: only recipients without NOTIFY or with NOTIFY=DELAY.
    const slow = await h.add(
      envelope({
        recipients: [
          { address: 'default@remote.example' },
          { address: 'delay@remote.example', notify: ['DELAY', 'FAILURE'] },
          { address: 'fail@remote.example', notify: ['FAILURE'] },
          { address: 'never@remote.example', notify: ['NEVER'] },
        ],
      }),
      ORIGINAL,
    );
    for (const [rcpt, notify] of [
      ['default@remote.example', undefined],
      ['delay@remote.example', ['DELAY', 'FAILURE']],
      ['fail@remote.example', ['FAILURE']],
      ['never@remote.example', ['NEVER']],
    ] as const) {
      await h.bounce.append(DELIVERY_LOG.DEFER, slow.id, delayed(rcpt, notify ? { notify: [...notify] } : {}));
    }
    const n = h.cleanup.submitted.length;
    const warned = await h.bounce.notify('delay', slow.id);
    assert.equal(warned.count, 2);
    const delayNotices = h.cleanup.submitted.slice(n);
    assert.equal(delayNotices.length, 2, 'sender warning and postmaster copy (notify_classes delay)');
    assert.deepEqual(finals((delayNotices[0] as (typeof delayNotices)[0]).content), ['rfc822; default@remote.example', 'rfc822; delay@remote.example']);
    const pmDelay = readReport((delayNotices[1] as (typeof delayNotices)[0]).content);
    assert.equal(header(pmDelay.top, 'subject'), 'Postmaster Warning: Delayed Mail');
    assert.equal(pmDelay.perRecipient.length, 4);
    assert.ok(h.log.texts().includes(`${slow.id}: postmaster delay notification: ${(delayNotices[1] as (typeof delayNotices)[0]).queueId}`));
  }));

test('delay notice: wording from delay_warning_time and maximal_queue_lifetime, headers only, defer log kept', () =>
  withHarness({ delay_warning_time: '4h', maximal_queue_lifetime: '3d' }, async (h) => {
    const msg = await h.add(envelope({ recipients: [{ address: 'bob@remote.example' }, { address: 'done@remote.example', done: true }] }), ORIGINAL);
    await h.bounce.append(DELIVERY_LOG.DEFER, msg.id, delayed('bob@remote.example', { reason: 'first attempt' }));
    await h.bounce.append(DELIVERY_LOG.DEFER, msg.id, delayed('done@remote.example'));
    await h.bounce.append(DELIVERY_LOG.DEFER, msg.id, delayed('bob@remote.example', { reason: 'connect to mx.remote.example[192.0.2.1]:25: Connection refused' }));
    const result = await h.bounce.notify('delay', msg.id);
    assert.equal(result.count, 1);
    const [sub] = h.cleanup.submitted;
    assert.ok(sub);
    assert.equal(sub.request.sender, '');
    const r = readReport(sub.content);
    assert.equal(header(r.top, 'subject'), 'Delayed Mail (still being retried)');
    const expected = [
      'This is the mail system at host mx.example.com.',
      '',
      '####################################################################',
      '# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #',
      '####################################################################',
      '',
      'Your message could not be delivered for more than 4 hour(s).',
      'It will be retried until it is 3 day(s) old.',
    ].join('\n');
    assert.ok(r.text.startsWith(expected), r.text);
    assert.match(r.text, /\n<bob@remote\.example>: connect to mx\.remote\.example\[192\.0\.2\.1\]:25: Connection\n {4}refused/);
    assert.equal(r.perRecipient.length, 1, 'the latest record of each pending recipient');
    const [bob] = r.perRecipient as [Map<string, string>];
    assert.equal(bob.get('action'), 'delayed');
    assert.equal(bob.get('status'), '4.4.1');
    assert.equal(Date.parse(bob.get('will-retry-until') ?? ''), Math.floor((msg.arrivalTime + 3 * 24 * HOUR) / 1000) * 1000);
    assert.equal(contentType(header(r.original, 'content-type')).type, 'text/rfc822-headers');
    assert.equal(header(r.original, 'content-description'), 'Undelivered Message Headers');
    assert.equal((await h.queue.readLog(DELIVERY_LOG.DEFER, msg.id)).length, 3, 'the defer log stays');
    assert.ok(h.log.texts().includes(`${msg.id}: sender delay notification: ${sub.queueId}`));
  }));

test('NOTIFY=SUCCESS: success notice from the trace log, then the trace log is deleted', () =>
  withHarness({}, async (h) => {
    const msg = await h.add(
      envelope({ recipients: [{ address: 'bob@remote.example', notify: ['SUCCESS', 'FAILURE'] }, { address: 'carol@remote.example' }] }),
      ORIGINAL,
    );
    await h.bounce.append(DELIVERY_LOG.TRACE, msg.id, {
      recipient: 'bob@remote.example',
      notify: ['SUCCESS', 'FAILURE'],
      status: '2.0.0',
      action: 'relayed',
      diagnostic: 'smtp; 250 2.0.0 Ok: queued as 9XYZ',
      remoteMta: 'dns; mx.remote.example',
      reason: 'host mx.remote.example[192.0.2.1] said: 250 2.0.0 Ok: queued as 9XYZ',
      time: Date.now(),
    });
    await h.bounce.append(DELIVERY_LOG.TRACE, msg.id, { recipient: 'carol@remote.example', status: '2.0.0', action: 'delivered', reason: 'delivered to mailbox', time: Date.now() });
    const result = await h.bounce.notify('success', msg.id);
    assert.equal(result.count, 1);
    const [sub] = h.cleanup.submitted;
    assert.ok(sub);
    const r = readReport(sub.content);
    assert.equal(header(r.top, 'subject'), 'Successful Mail Delivery Report');
    assert.match(r.text, /Your message was successfully delivered to the destination\(s\)\nlisted below\./);
    assert.equal(r.perRecipient.length, 1, 'only NOTIFY=SUCCESS recipients');
    const [bob] = r.perRecipient as [Map<string, string>];
    assert.equal(bob.get('action'), 'relayed');
    assert.equal(bob.get('status'), '2.0.0');
    assert.equal(header(r.original, 'content-description'), 'Message Headers');
    assert.equal(contentType(header(r.original, 'content-type')).type, 'text/rfc822-headers');
    assert.deepEqual(await h.queue.readLog(DELIVERY_LOG.TRACE, msg.id), []);
    assert.ok(h.log.texts().includes(`${msg.id}: sender delivery status notification: ${sub.queueId}`));
  }));

test('verify (sendmail -bv): "Mail Delivery Status Report" with every trace record', () =>
  withHarness({}, async (h) => {
    const msg = await h.add(
      envelope({ recipients: [{ address: 'bob@remote.example' }, { address: 'nobody@example.com' }], traceFlags: ['verify'] }),
      'From: alice@example.org\nSubject: verify\n\n',
    );
    await h.bounce.append(DELIVERY_LOG.TRACE, msg.id, { recipient: 'bob@remote.example', status: '2.0.0', action: 'deliverable', reason: 'delivery via mx.remote.example[192.0.2.1]:25: 250 2.1.5 Ok', time: Date.now() });
    await h.bounce.append(DELIVERY_LOG.TRACE, msg.id, { recipient: 'nobody@example.com', status: '5.1.1', action: 'undeliverable', reason: 'unknown user: "nobody"', time: Date.now() });
    const result = await h.bounce.notify('verify', msg.id);
    assert.equal(result.count, 2);
    const [sub] = h.cleanup.submitted;
    assert.ok(sub);
    assert.equal(sub.request.sender, '');
    assert.deepEqual(sub.request.recipients, [{ address: 'alice@example.org' }]);
    const r = readReport(sub.content);
    assert.equal(header(r.top, 'subject'), 'Mail Delivery Status Report');
    assert.match(r.text, /Enclosed is the mail delivery report that you requested\./);
    assert.match(r.text, /\n<bob@remote\.example>: delivery via mx\.remote\.example/);
    assert.match(r.text, /\n<nobody@example\.com>: unknown user: "nobody"/);
    assert.deepEqual(
      r.perRecipient.map((g) => [g.get('final-recipient'), g.get('action'), g.get('status')]),
      [
        ['rfc822; bob@remote.example', 'deliverable', '2.0.0'],
        ['rfc822; nobody@example.com', 'undeliverable', '5.1.1'],
      ],
    );
    assert.deepEqual(await h.queue.readLog(DELIVERY_LOG.TRACE, msg.id), []);
  }));

test('null sender: with notify_classes 2bounce a failed bounce goes to the postmaster as a double bounce', () =>
  withHarness({ notify_classes: '2bounce' }, async (h) => {
    const msg = await h.add(envelope({ sender: '', recipients: [{ address: 'alice@example.org', notify: ['NEVER'] }] }), ORIGINAL);
    await h.bounce.append(DELIVERY_LOG.BOUNCE, msg.id, failed('alice@example.org', { notify: ['NEVER'] }));
    const result = await h.bounce.notify('bounce', msg.id);
    const [sub] = h.cleanup.submitted;
    assert.ok(sub);
    assert.deepEqual(result, { queueId: sub.queueId, count: 1 });
    assert.equal(sub.request.sender, 'double-bounce@mx.example.com');
    assert.deepEqual(sub.request.recipients, [{ address: 'postmaster@mx.example.com' }]);
    const r = readReport(sub.content);
    assert.equal(header(r.top, 'subject'), 'Postmaster Copy: Undelivered Mail');
    assert.equal(header(r.top, 'to'), 'postmaster@mx.example.com');
    assert.equal(header(r.top, 'auto-submitted'), 'auto-generated');
    assert.equal(r.perMessage.get('x-postfix-sender'), 'rfc822; MAILER-DAEMON');
    assert.equal(r.perRecipient[0]?.get('final-recipient'), 'rfc822; alice@example.org', 'NOTIFY is overridden for the postmaster');
    assert.equal(contentType(header(r.original, 'content-type')).type, 'message/rfc822');
    assert.match(r.original.body, /^Return-Path: <MAILER-DAEMON>\n/);
    assert.match(r.original.body, /The body of the original message\./);
    assert.ok(h.log.texts().includes(`${msg.id}: postmaster non-delivery notification: ${sub.queueId}`));
    assert.deepEqual(await h.queue.readLog(DELIVERY_LOG.BOUNCE, msg.id), []);
  }));

test('a double bounce that bounces is discarded; without bounce/2bounce in notify_classes a bounce is dropped', async () => {
  await withHarness({}, async (h) => {
    const msg = await h.add(envelope({ sender: 'double-bounce@mx.example.com', recipients: [{ address: 'postmaster@mx.example.com' }] }), ORIGINAL);
    await h.bounce.append(DELIVERY_LOG.BOUNCE, msg.id, failed('postmaster@mx.example.com'));
    assert.deepEqual(await h.bounce.notify('bounce', msg.id), { count: 0 });
    assert.equal(h.cleanup.submitted.length, 0);
    assert.ok(h.log.texts().includes(`warning: ${msg.id}: undeliverable postmaster notification discarded`));
    assert.deepEqual(await h.queue.readLog(DELIVERY_LOG.BOUNCE, msg.id), []);
  });
  await withHarness({ notify_classes: 'resource, software' }, async (h) => {
    const msg = await h.add(envelope({ sender: '' }), ORIGINAL);
    await h.bounce.append(DELIVERY_LOG.BOUNCE, msg.id, failed('bob@remote.example'));
    assert.deepEqual(await h.bounce.notify('bounce', msg.id), { count: 0 });
    assert.equal(h.cleanup.submitted.length, 0);
    assert.deepEqual(await h.queue.readLog(DELIVERY_LOG.BOUNCE, msg.id), []);
  });
  await withHarness({ notify_classes: 'resource, software' }, async (h) => {
    // Trace reports about mail from the null sender need notify_classes 2bounce.
    const msg = await h.add(envelope({ sender: '' }), ORIGINAL);
    await h.bounce.append(DELIVERY_LOG.TRACE, msg.id, { recipient: 'bob@remote.example', status: '2.0.0', action: 'delivered', reason: 'ok', time: Date.now() });
    assert.deepEqual(await h.bounce.notify('success', msg.id), { count: 0 });
    assert.equal(h.cleanup.submitted.length, 0);
    assert.ok(h.log.texts().includes(`${msg.id}: not sending trace/success notification for single-bounce message`));
  });
});

test('2bounce_notice_recipient and notify_classes=2bounce route double bounces', () =>
  withHarness({ notify_classes: '2bounce', '2bounce_notice_recipient': 'mailops@example.net' }, async (h) => {
    const msg = await h.add(envelope({ sender: '' }), ORIGINAL);
    await h.bounce.append(DELIVERY_LOG.BOUNCE, msg.id, failed('bob@remote.example'));
    await h.bounce.notify('bounce', msg.id);
    assert.deepEqual(h.cleanup.submitted[0]?.request.recipients, [{ address: 'mailops@example.net' }]);
  }));

test('an expired message bounces its pending defer-log recipients too, and both logs go', () =>
  withHarness({ maximal_queue_lifetime: '1d' }, async (h) => {
    const msg = await h.add(
      envelope({
        arrivalTime: Date.now() - 30 * HOUR,
        recipients: [{ address: 'bob@remote.example' }, { address: 'slow@remote.example' }, { address: 'gone@remote.example', done: true }],
      }),
      ORIGINAL,
    );
    await h.bounce.append(DELIVERY_LOG.BOUNCE, msg.id, failed('bob@remote.example'));
    await h.bounce.append(DELIVERY_LOG.DEFER, msg.id, delayed('slow@remote.example'));
    await h.bounce.append(DELIVERY_LOG.DEFER, msg.id, delayed('gone@remote.example'));
    const result = await h.bounce.notify('bounce', msg.id);
    assert.equal(result.count, 2);
    const r = readReport(h.cleanup.submitted[0]?.content ?? '');
    assert.deepEqual(
      r.perRecipient.map((g) => [g.get('final-recipient'), g.get('action'), g.get('status')]),
      [
        ['rfc822; bob@remote.example', 'failed', '5.1.1'],
        ['rfc822; slow@remote.example', 'failed', '4.4.1'],
      ],
    );
    assert.deepEqual(await h.queue.readLog(DELIVERY_LOG.DEFER, msg.id), []);
    assert.deepEqual(await h.queue.readLog(DELIVERY_LOG.BOUNCE, msg.id), []);
  }));

test('bounce_template_file replaces the built-in failure template', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'postern-bounce-tpl-'));
  try {
    const file = join(dir, 'bounce.cf');
    await writeFile(
      file,
      [
        '# site templates',
        'failure_template = <<EOF',
        'Charset: us-ascii',
        'From: Example Postmaster <MAILER-DAEMON>',
        'Subject: Your mail to us bounced',
        'Postmaster-Subject: Bounce report',
        '',
        'Hello from $myhostname ($mail_name).',
        'Mail is kept for $maximal_queue_lifetime_hours hours.',
        'EOF',
        '',
      ].join('\n'),
    );
    await withHarness({ bounce_template_file: file, maximal_queue_lifetime: '2d', mail_name: 'Postern', notify_classes: 'bounce' }, async (h) => {
      const msg = await h.add(envelope(), ORIGINAL);
      await h.bounce.append(DELIVERY_LOG.BOUNCE, msg.id, failed('bob@remote.example'));
      await h.bounce.notify('bounce', msg.id);
      const r = readReport(h.cleanup.submitted[0]?.content ?? '');
      assert.equal(header(r.top, 'subject'), 'Your mail to us bounced');
      assert.equal(header(r.top, 'from'), 'Example Postmaster <MAILER-DAEMON@mx.example.com>');
      assert.ok(r.text.startsWith('Hello from mx.example.com (Postern).\nMail is kept for 48 hours.\n'), r.text);
      assert.doesNotMatch(r.text, /I'm sorry/);
      const pm = readReport(h.cleanup.submitted[1]?.content ?? '');
      assert.equal(header(pm.top, 'subject'), 'Bounce report');
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a notice cleanup does not take is an error, and the log stays for the retry', () =>
  withHarness({}, async (h) => {
    const msg = await h.add(envelope(), ORIGINAL);
    await h.bounce.append(DELIVERY_LOG.BOUNCE, msg.id, failed('bob@remote.example'));
    h.cleanup.reply = { status: 'tempfail', code: 451, dsn: '4.3.0', text: 'Error: queue file write error' };
    await assert.rejects(h.bounce.notify('bounce', msg.id), (err) => {
      assert.ok(isPosternError(err, 'POSTERN_ERR_BOUNCE_NOTICE'));
      assert.match(err.message, /non-delivery notification not queued: 451 4\.3\.0 Error: queue file write error/);
      return true;
    });
    assert.equal((await h.queue.readLog(DELIVERY_LOG.BOUNCE, msg.id)).length, 1);
    h.cleanup.reply = { status: 'queued', code: 250, dsn: '2.0.0', text: 'Ok' };
    assert.equal((await h.bounce.notify('bounce', msg.id)).count, 1);
    assert.deepEqual(await h.queue.readLog(DELIVERY_LOG.BOUNCE, msg.id), []);
  }));

test('requests for unknown messages, logs and kinds are refused', () =>
  withHarness({}, async (h) => {
    await assert.rejects(h.bounce.notify('bounce', newQueueId()), (err) => isPosternError(err, 'POSTERN_ERR_QUEUE_NOT_FOUND'));
    const msg = await h.add(envelope(), ORIGINAL);
    const record = failed('bob@remote.example');
    await assert.rejects(h.bounce.append('bogus' as never, msg.id, record), (err) => isPosternError(err, 'POSTERN_ERR_IPC_PROTOCOL'));
    await assert.rejects(h.bounce.append(DELIVERY_LOG.BOUNCE, msg.id, { ...record, status: 'bad' }), /bad status/);
    await assert.rejects(h.bounce.append(DELIVERY_LOG.BOUNCE, msg.id, { ...record, notify: ['SOMETIMES' as never] }), /bad NOTIFY/);
    await assert.rejects(h.bounce.notify('nonsense' as never, msg.id), /unknown notice kind/);
    assert.deepEqual(await h.queue.readLog(DELIVERY_LOG.BOUNCE, msg.id), []);
    await h.bounce.append(DELIVERY_LOG.BOUNCE, msg.id, record);
    assert.deepEqual(await h.queue.readLog(DELIVERY_LOG.BOUNCE, msg.id), [record]);
  }));

test('8-bit and SMTPUTF8 originals: 8bit transfer encoding, message/global parts', () =>
  withHarness({}, async (h) => {
    const msg = await h.add(
      envelope({ sender: 'jörg@example.org', smtputf8: true, bodyType: '8BITMIME', recipients: [{ address: 'zoë@remote.example' }] }),
      'From: jörg@example.org\nSubject: =?utf-8?q?gr=C3=BC=C3=9Fe?=\n\nGrüße\n',
    );
    await h.bounce.append(DELIVERY_LOG.BOUNCE, msg.id, failed('zoë@remote.example', { reason: 'unknown user zoë' }));
    await h.bounce.notify('bounce', msg.id);
    const [sub] = h.cleanup.submitted;
    assert.ok(sub);
    assert.equal(sub.request.bodyType, '8BITMIME');
    assert.equal(sub.request.smtputf8, true);
    const r = readReport(sub.content);
    assert.equal(header(r.top, 'content-transfer-encoding'), '8bit');
    assert.equal(contentType(header(r.parts[0], 'content-type')).params.charset, 'utf-8');
    assert.equal(contentType(header(r.parts[1], 'content-type')).type, 'message/global-delivery-status');
    assert.equal(contentType(header(r.original, 'content-type')).type, 'message/global');
    assert.equal(r.perMessage.get('x-postfix-sender'), 'utf-8; jörg@example.org');
    assert.equal(r.perRecipient[0]?.get('final-recipient'), 'utf-8; zoë@remote.example');
    assert.match(r.text, /<zoë@remote\.example>: unknown user zoë/);
  }));
