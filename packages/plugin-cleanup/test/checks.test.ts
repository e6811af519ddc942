import { test } from 'node:test';
import assert from 'node:assert/strict';
import { REMOTE_CLIENT, withCleanup } from './harness.js';

const HEADER_CHECKS = [
  '/^Subject: reject me/        REJECT',
  '/^Subject: reject text/      REJECT 5.7.9 go away',
  '/^Subject: defer me/         REJECT 4.7.1 later please',
  '/^Subject: warn me/          WARN suspicious subject',
  '/^Subject: discard me/       DISCARD spam',
  '/^Subject: hold me/          HOLD inspect',
  '/^Subject: redirect me/      REDIRECT trap@example.com',
  '/^Subject: filter me/        FILTER scan:[127.0.0.1]:10025',
  '/^X-Drop:/                   IGNORE',
  '/^Subject: prepend me/       PREPEND X-Tag: tagged',
  '/^Subject: replace me/       REPLACE Subject: replaced',
  '/^Subject: dunno/            DUNNO',
  '/^Content-Type: application\\/x-evil/ REJECT evil attachment',
].join('\n');

const BODY_CHECKS = ['/^reject this line/ REJECT body rejected', '/^secret/ REPLACE [redacted]', '/^drop this/ IGNORE'].join('\n');

const SETTINGS = {
  header_checks: 'regexp:{dir}/header_checks',
  body_checks: 'regexp:{dir}/body_checks',
  nested_header_checks: 'regexp:{dir}/nested_checks',
};
const FILES = { header_checks: HEADER_CHECKS, body_checks: BODY_CHECKS, nested_checks: '/^Subject: nested bad/ REJECT nested rejected\n' };

function message(subject: string, extra = ''): string {
  return `From: s@example.com\r\nSubject: ${subject}\r\n${extra}To: r@example.org\r\n\r\nhello\r\n`;
}

const REQ = { client: REMOTE_CLIENT, sender: 's@example.com', recipients: [{ address: 'r@example.org' }] };

test('header_checks actions', async () => {
  await withCleanup(SETTINGS, FILES, async (h) => {
    // REJECT with the default text, and the exact log line.
    let r = await h.submit(REQ, message('reject me'));
    assert.deepEqual([r.status, r.code, r.dsn, r.text], ['rejected', 550, '5.7.1', 'message content rejected']);
    assert.ok(
      h.log.lines.includes(
        `${r.queueId}: reject: header Subject: reject me from client.example[192.0.2.1]; from=<s@example.com> to=<r@example.org> proto=ESMTP helo=<client.example>: 5.7.1 message content rejected`,
      ),
      h.log.lines.join('\n'),
    );
    // REJECT with its own status and text.
    r = await h.submit(REQ, message('reject text'));
    assert.deepEqual([r.status, r.code, r.dsn, r.text], ['rejected', 550, '5.7.9', 'go away']);
    // A 4.x.x status is a temporary failure.
    r = await h.submit(REQ, message('defer me'));
    assert.deepEqual([r.status, r.code, r.dsn, r.text], ['tempfail', 451, '4.7.1', 'later please']);
    assert.equal(await h.queued(), 0);

    // WARN: logged, queued unchanged.
    r = await h.submit(REQ, message('warn me'));
    assert.equal(r.status, 'queued');
    assert.ok(h.log.lines.some((l) => l === `${r.queueId}: warning: header Subject: warn me from client.example[192.0.2.1]; from=<s@example.com> to=<r@example.org> proto=ESMTP helo=<client.example>: suspicious subject`));

    // DISCARD: 250 to the client, nothing queued.
    const before = await h.queued();
    r = await h.submit(REQ, message('discard me'));
    assert.deepEqual([r.status, r.code], ['discarded', 250]);
    assert.equal(await h.store.get(r.queueId), undefined);
    assert.equal(await h.queued(), before);
    assert.ok(h.log.lines.some((l) => l.startsWith(`${r.queueId}: discard: header Subject: discard me from`) && l.endsWith(': spam')));

    // HOLD: into the hold queue.
    r = await h.submit(REQ, message('hold me'));
    assert.equal(r.held, true);
    assert.equal((await h.store.get(r.queueId))?.queue, 'hold');

    // REDIRECT and FILTER end up in the envelope.
    r = await h.submit(REQ, message('redirect me'));
    assert.equal((await h.store.get(r.queueId))?.redirect, 'trap@example.com');
    r = await h.submit(REQ, message('filter me'));
    assert.equal((await h.store.get(r.queueId))?.filter, 'scan:[127.0.0.1]:10025');

    // IGNORE removes the header; PREPEND adds one before; REPLACE replaces; DUNNO keeps.
    r = await h.submit(REQ, message('prepend me', 'X-Drop: yes\r\n'));
    assert.equal(await h.content(r.queueId), 'From: s@example.com\nX-Tag: tagged\nSubject: prepend me\nTo: r@example.org\n\nhello\n');
    r = await h.submit(REQ, message('replace me'));
    assert.match(await h.content(r.queueId), /^Subject: replaced$/m);
    r = await h.submit(REQ, message('dunno'));
    assert.match(await h.content(r.queueId), /^Subject: dunno$/m);
  });
});

test('header_checks see multi-line headers as one; noHeaderBodyChecks skips them', async () => {
  await withCleanup({ header_checks: 'regexp:{dir}/hc' }, { hc: '/^Subject: first\\s+second/ REJECT folded\n' }, async (h) => {
    const r = await h.submit(REQ, 'Subject: first\n second\n\nbody\n');
    assert.deepEqual([r.status, r.text], ['rejected', 'folded']);
    const r2 = await h.submit({ ...REQ, flags: { noHeaderBodyChecks: true } }, 'Subject: first\n second\n\nbody\n');
    assert.equal(r2.status, 'queued');
    assert.equal(await h.content(r2.queueId), 'Subject: first\n second\n\nbody\n');
  });
});

test('body_checks: REJECT, REPLACE, IGNORE line by line', async () => {
  await withCleanup(SETTINGS, FILES, async (h) => {
    let r = await h.submit(REQ, ['Subject: ok\r\n\r\nfine\r\nreject ', 'this line\r\nmore\r\n']);
    assert.deepEqual([r.status, r.code, r.dsn, r.text], ['rejected', 550, '5.7.1', 'body rejected']);
    assert.ok(h.log.lines.some((l) => l.startsWith(`${r.queueId}: reject: body reject this line from client.example[192.0.2.1];`)));
    r = await h.submit(REQ, 'Subject: ok\n\nsecret stuff\ndrop this\nkept\n');
    assert.equal(await h.content(r.queueId), 'Subject: ok\n\n[redacted]\nkept\n');
  });
});

test('MIME: mime_header_checks on part headers, nested_header_checks on attached messages', async () => {
  await withCleanup(SETTINGS, FILES, async (h) => {
    const mime = (partHeaders: string) =>
      'Subject: mime\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="BB"\n\npreamble\n--BB\n' +
      `${partHeaders}\n\npart body\n--BB--\n`;
    let r = await h.submit(REQ, mime('Content-Type: application/x-evil'));
    assert.deepEqual([r.status, r.text], ['rejected', 'evil attachment']);
    r = await h.submit(REQ, mime('Content-Type: message/rfc822\n\nSubject: nested bad\nFrom: x@y'));
    assert.deepEqual([r.status, r.text], ['rejected', 'nested rejected']);
    // A nested "Subject: reject me" is not a primary header: header_checks do not see it.
    r = await h.submit(REQ, mime('Content-Type: message/rfc822\n\nSubject: reject me'));
    assert.equal(r.status, 'queued');
    assert.match(await h.content(r.queueId), /^Subject: reject me$/m);
  });
});

test('message_size_limit: 552 5.3.4 and nothing queued', async () => {
  await withCleanup({ message_size_limit: '1000' }, {}, async (h) => {
    const big = `Subject: big\n\n${'x'.repeat(100)}\n`.repeat(1) + `${'y'.repeat(99)}\n`.repeat(50);
    const r = await h.submit(REQ, [big.slice(0, 2000), big.slice(2000)]);
    assert.deepEqual([r.status, r.code, r.dsn, r.text], ['rejected', 552, '5.3.4', 'Error: message file too big']);
    assert.equal(await h.queued(), 0);
    const ok = await h.submit(REQ, 'Subject: small\n\nbody\n');
    assert.equal(ok.status, 'queued');
  });
});

test('hopcount_limit: 554 5.4.0 Error: too many hops', async () => {
  await withCleanup({ hopcount_limit: '3' }, {}, async (h) => {
    const received = 'Received: from a by b\n'.repeat(3);
    const r = await h.submit(REQ, `${received}Subject: loop\n\nbody\n`);
    assert.deepEqual([r.status, r.code, r.dsn, r.text], ['rejected', 554, '5.4.0', 'Error: too many hops']);
    const ok = await h.submit(REQ, `${'Received: from a by b\n'.repeat(2)}Subject: fine\n\nbody\n`);
    assert.equal(ok.status, 'queued');
    assert.equal((await h.store.get(ok.queueId))?.hops, 2);
  });
});

test('header_size_limit: the excess of a long header is discarded', async () => {
  await withCleanup({ header_size_limit: '60' }, {}, async (h) => {
    const r = await h.submit(REQ, `Subject: ${'a'.repeat(30)}\n ${'b'.repeat(40)}\n ${'c'.repeat(10)}\nTo: r@example.org\n\nbody\n`);
    const text = await h.content(r.queueId);
    const subject = text.slice(0, text.indexOf('\nTo:'));
    assert.ok(subject.length <= 60, subject);
    assert.ok(subject.startsWith(`Subject: ${'a'.repeat(30)}\n b`));
    assert.doesNotMatch(subject, /ccc/);
    assert.match(text, /^To: r@example\.org$/m);
  });
});

test('hold flag from the request puts the message on hold without a qmgr trigger', async () => {
  await withCleanup({}, {}, async (h) => {
    const r = await h.submit({ ...REQ, flags: { hold: true } }, 'Subject: x\n\nbody\n');
    assert.equal(r.held, true);
    assert.equal((await h.store.get(r.queueId))?.queue, 'hold');
    const r2 = await h.submit(REQ, 'Subject: y\n\nbody\n');
    assert.equal((await h.store.get(r2.queueId))?.queue, 'incoming');
    await h.waitTrigger('I');
  });
});
