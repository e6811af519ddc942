import { test } from 'node:test';
import assert from 'node:assert/strict';
import { REMOTE_CLIENT, withCleanup, type Harness } from './harness.js';

const REQ = { client: REMOTE_CLIENT, sender: 's@example.com', recipients: [{ address: 'r@example.org' }] };

const HEADER_8BIT = 'From: s@example.com\r\nSubject: caf\u00e9\r\nTo: r@example.org\r\n\r\nhello\r\n';
const BODY_8BIT = 'From: s@example.com\r\nSubject: plain\r\n\r\ncaf\u00e9 au lait\r\n';
const BODY_8BIT_DECLARED = 'From: s@example.com\r\nMIME-Version: 1.0\r\nContent-Transfer-Encoding: 8bit\r\n\r\ncaf\u00e9 au lait\r\n';

function multipart(partHeaders: string, partBody: string, outer = ''): string {
  return [
    'From: s@example.com',
    'MIME-Version: 1.0',
    'Content-Type: multipart/mixed; boundary="b1"',
    ...(outer ? [outer] : []),
    '',
    'prolog',
    '--b1',
    ...(partHeaders ? [partHeaders] : []),
    '',
    partBody,
    '--b1--',
    'epilog',
    '',
  ].join('\r\n');
}

const CLEAN = multipart('Content-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: quoted-printable', 'caf=C3=A9');
const MULTIPART_BASE64 = multipart('Content-Type: text/plain', 'hello', 'Content-Transfer-Encoding: base64');
const MULTIPART_8BIT = multipart('Content-Type: text/plain', 'hello', 'Content-Transfer-Encoding: 8bit');
const RFC822_QP = multipart('Content-Type: message/rfc822\r\nContent-Transfer-Encoding: quoted-printable', 'Subject: inner\r\n\r\ninner body');
const PARTIAL_8BIT = multipart('Content-Type: message/partial; id="x"; number=1\r\nContent-Transfer-Encoding: 8bit', 'Subject: inner\r\n\r\nbody');
const PART_7BIT_8BIT_DATA = multipart('Content-Type: text/plain\r\nContent-Transfer-Encoding: 7bit', 'caf\u00e9');
const PART_8BIT = multipart('Content-Type: text/plain\r\nContent-Transfer-Encoding: 8bit', 'caf\u00e9');

const HEADER_REASON = ['rejected', 550, '5.6.0', 'improper use of 8-bit data in message header'];
const BODY_REASON = ['rejected', 550, '5.6.0', 'improper use of 8-bit data in message body'];
const DOMAIN_REASON = ['rejected', 550, '5.6.0', 'invalid message/* or multipart/* encoding domain'];

async function result(h: Harness, content: string, request: object = REQ): Promise<unknown[]> {
  const r = await h.submit(request, content);
  return r.status === 'queued' ? ['queued'] : [r.status, r.code, r.dsn, r.text];
}

const TAIL = 'from client.example[192.0.2.1]; from=<s@example.com> to=<r@example.org>';

test('strict_* MIME checks are off by default', async () => {
  await withCleanup({}, {}, async (h) => {
    for (const m of [HEADER_8BIT, BODY_8BIT, PART_7BIT_8BIT_DATA, MULTIPART_BASE64, RFC822_QP, PARTIAL_8BIT]) {
      assert.deepEqual(await result(h, m), ['queued']);
    }
    assert.ok(!h.log.lines.some((l) => l.includes('mime-error')), h.log.lines.join('\n'));
  });
});

test('strict_7bit_headers rejects 8-bit header data, logged as Postfix does', async () => {
  await withCleanup({ strict_7bit_headers: 'yes' }, {}, async (h) => {
    const r = await h.submit(REQ, HEADER_8BIT);
    assert.deepEqual([r.status, r.code, r.dsn, r.text], HEADER_REASON);
    assert.ok(h.log.lines.includes(`${r.queueId}: reject: mime-error improper use of 8-bit data in message header: Subject: caf\u00e9 ${TAIL}`), h.log.lines.join('\n'));
    assert.equal(await h.queued(), 0);
    // 8-bit headers of a MIME part too.
    assert.deepEqual(await result(h, multipart('Content-Type: text/plain; name="caf\u00e9.txt"', 'hello')), HEADER_REASON);
    // The body is not its business.
    assert.deepEqual(await result(h, BODY_8BIT), ['queued']);
    // Not for mail that header/body checks skip (bounces, forwarded mail).
    assert.deepEqual(await result(h, HEADER_8BIT, { ...REQ, flags: { noHeaderBodyChecks: true } }), ['queued']);
  });
});

test('strict_8bitmime_body rejects 8-bit data in a 7bit body', async () => {
  await withCleanup({ strict_8bitmime_body: 'yes' }, {}, async (h) => {
    const r = await h.submit(REQ, BODY_8BIT);
    assert.deepEqual([r.status, r.code, r.dsn, r.text], BODY_REASON);
    assert.ok(h.log.lines.includes(`${r.queueId}: reject: mime-error improper use of 8-bit data in message body: caf\u00e9 au lait ${TAIL}`), h.log.lines.join('\n'));
    assert.deepEqual(await result(h, PART_7BIT_8BIT_DATA), BODY_REASON);
    // Declared 8bit: fine, in the primary body and in a part.
    assert.deepEqual(await result(h, BODY_8BIT_DECLARED), ['queued']);
    assert.deepEqual(await result(h, PART_8BIT), ['queued']);
    // The epilog after an 8bit part is 7bit again.
    assert.deepEqual(await result(h, PART_8BIT.replace('epilog', 'epilog caf\u00e9')), BODY_REASON);
    assert.deepEqual(await result(h, HEADER_8BIT), ['queued']);
  });
});

test('strict_8bitmime turns on both 8-bit checks; the header error is the one reported', async () => {
  await withCleanup({ strict_8bitmime: 'yes' }, {}, async (h) => {
    assert.deepEqual(await result(h, HEADER_8BIT), HEADER_REASON);
    assert.deepEqual(await result(h, BODY_8BIT), BODY_REASON);
    const both = await h.submit(REQ, 'Subject: caf\u00e9\r\n\r\ncaf\u00e9 au lait\r\n');
    assert.deepEqual([both.status, both.code, both.dsn, both.text], HEADER_REASON);
    // Both were logged, each once.
    assert.equal(h.log.lines.filter((l) => l.startsWith(`${both.queueId}: reject: mime-error`)).length, 2);
    assert.deepEqual(await result(h, PART_8BIT), ['queued']);
  });
});

test('strict_mime_encoding_domain rejects an encoding the entity type forbids', async () => {
  await withCleanup({ strict_mime_encoding_domain: 'yes' }, {}, async (h) => {
    const r = await h.submit(REQ, MULTIPART_BASE64);
    assert.deepEqual([r.status, r.code, r.dsn, r.text], DOMAIN_REASON);
    assert.ok(h.log.lines.includes(`${r.queueId}: reject: mime-error invalid message/* or multipart/* encoding domain: base64 ${TAIL}`), h.log.lines.join('\n'));
    assert.deepEqual(await result(h, RFC822_QP), DOMAIN_REASON);
    assert.deepEqual(await result(h, PARTIAL_8BIT), DOMAIN_REASON);
    // Identity encodings are fine on multipart; 8-bit data is not this check's business.
    assert.deepEqual(await result(h, MULTIPART_8BIT), ['queued']);
    assert.deepEqual(await result(h, BODY_8BIT), ['queued']);
  });
});

test('all strict_* checks on: clean 7-bit mail passes; disable_mime_input_processing turns them off', async () => {
  const all = { strict_7bit_headers: 'yes', strict_8bitmime_body: 'yes', strict_8bitmime: 'yes', strict_mime_encoding_domain: 'yes' };
  await withCleanup(all, {}, async (h) => {
    const r = await h.submit(REQ, CLEAN);
    assert.equal(r.status, 'queued');
    assert.ok((await h.content(r.queueId)).includes('caf=C3=A9\n--b1--\nepilog\n'));
    assert.deepEqual(await result(h, 'Subject: plain\r\n\r\nhello\r\n'), ['queued']);
  });
  await withCleanup({ ...all, disable_mime_input_processing: 'yes' }, {}, async (h) => {
    for (const m of [HEADER_8BIT, BODY_8BIT, MULTIPART_BASE64]) assert.deepEqual(await result(h, m), ['queued']);
  });
});
