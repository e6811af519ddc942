/**
 * smtp_header_checks, smtp_mime_header_checks, smtp_nested_header_checks,
 * smtp_body_checks (and lmtp_header_checks) against a real receiving server
 * on loopback: the server gets the changed content, the queued copy stays as
 * it was, and actions are logged with Postfix's smtp(8) wording.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { local, testClient, testResolver, testServer, writeFile } from '@postern/testkit';

const MESSAGE =
  'From: sender@origin.test\nTo: rcpt@dest.test\nX-Secret: do not\n  tell anyone\nSubject: hello world\nX-Spam: yes\n\nBody line one.\nsecret body line\nlast line\n';

test('smtp_header_checks: IGNORE drops X-Secret (with its continuation), REPLACE rewrites Subject, WARN and INFO log; the queued copy is unchanged', async () => {
  const srv = await testServer();
  const c = testClient('smtp_header_checks = regexp:$DIR/header_checks', testResolver({}, { 'dest.test': local(srv.port) }));
  writeFile(c.dir, 'header_checks', '/^X-Secret:/ IGNORE\n/^Subject: (.*)/ REPLACE Subject: [ext] $1\n/^X-Spam: yes/ WARN spam header seen\n/^From:/ INFO\n/^To:/ HOLD\n');
  const queued = Buffer.from(MESSAGE);
  const before = Buffer.from(queued);
  try {
    const { results } = await c.deliver({}, queued);
    assert.equal(results[0]!.status, 'sent', JSON.stringify(results));
    const text = srv.received[0]!.data.toString();
    assert.doesNotMatch(text, /X-Secret|tell anyone/);
    assert.match(text, /\r\nSubject: \[ext\] hello world\r\n/);
    assert.match(text, /\r\nX-Spam: yes\r\n\r\nBody line one\.\r\nsecret body line\r\n/);
    assert.ok(queued.equals(before), 'the queued content is not changed');
    const lines = c.log.lines;
    assert.ok(lines.includes('4ABCDEF012: warning: header X-Spam: yes: spam header seen'), lines.join('\n'));
    assert.ok(lines.includes('4ABCDEF012: info: header From: sender@origin.test'), lines.join('\n'));
    assert.ok(lines.includes('4ABCDEF012: replace: header Subject: hello world: Subject: [ext] hello world'), lines.join('\n'));
    // HOLD would change the delivery: Postfix's smtp logs it as unsupported and sends the header.
    assert.ok(lines.includes('warning: unsupported command in smtp_header_checks map: HOLD'), lines.join('\n'));
    assert.match(text, /\r\nTo: rcpt@dest\.test\r\n/);
  } finally {
    c.close();
    await srv.close();
  }
});

test('smtp_body_checks and smtp_mime_header_checks: body lines dropped, replaced, prepended; MIME part headers checked', async () => {
  const srv = await testServer();
  const c = testClient(
    'smtp_body_checks = regexp:$DIR/body\nsmtp_mime_header_checks = regexp:$DIR/mime\nsmtp_nested_header_checks = regexp:$DIR/nested',
    testResolver({}, { 'dest.test': local(srv.port) }),
  );
  writeFile(c.dir, 'body', '/^secret/ STRIP\n/^last line$/ REPLACE final line\n/^Body line/ PREPEND before the body\n/^$/ INFO empty line\n');
  writeFile(c.dir, 'mime', '/^Content-Disposition: attachment/ REPLACE Content-Disposition: inline\n');
  writeFile(c.dir, 'nested', '/^Subject: inner/ REPLACE Subject: inner (checked)\n');
  const mime =
    'From: a@origin.test\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="BB"\n\n--BB\nContent-Type: text/plain\n\nsecret in a part\n--BB\nContent-Type: message/rfc822\nContent-Disposition: attachment\n\nSubject: inner\n\ninner body\n--BB--\n';
  try {
    const first = await c.deliver({}, MESSAGE);
    assert.equal(first.results[0]!.status, 'sent');
    const text = srv.received[0]!.data.toString();
    assert.match(text, /\r\n\r\nbefore the body\r\nBody line one\.\r\nfinal line\r\n/);
    assert.doesNotMatch(text, /secret body line/);
    assert.ok(c.log.lines.includes('4ABCDEF012: strip: body secret body line'), c.log.lines.join('\n'));
    // the blank line that ends the headers is a body line to Postfix's mime_state
    assert.ok(c.log.lines.includes('4ABCDEF012: info: body : empty line'), c.log.lines.join('\n'));
    await c.deliver({}, mime);
    const m = srv.received[1]!.data.toString();
    assert.doesNotMatch(m, /secret in a part/);
    assert.match(m, /\r\nContent-Disposition: inline\r\n\r\nSubject: inner \(checked\)\r\n\r\ninner body\r\n--BB--/);
  } finally {
    c.close();
    await srv.close();
  }
});

test('lmtp_header_checks: the LMTP client applies its own tables, not the smtp_ ones', async () => {
  const srv = await testServer({ lmtp: true });
  const c = testClient(
    'lmtp_header_checks = regexp:$DIR/lmtp\nsmtp_header_checks = regexp:$DIR/smtp',
    testResolver({}, { 'dest.test': local(srv.port) }),
    'lmtp',
  );
  writeFile(c.dir, 'lmtp', '/^X-Secret:/ IGNORE\n');
  writeFile(c.dir, 'smtp', '/^Subject:/ IGNORE\n');
  try {
    const { results } = await c.deliver({ nexthop: `[127.0.0.1]:${srv.port}` }, MESSAGE);
    assert.equal(results[0]!.status, 'sent', JSON.stringify(results));
    const text = srv.received[0]!.data.toString();
    assert.doesNotMatch(text, /X-Secret/);
    assert.match(text, /\r\nSubject: hello world\r\n/);
  } finally {
    c.close();
    await srv.close();
  }
});

test('a smtp_body_checks lookup error defers the delivery as a local data error; nothing reaches the server', async () => {
  const srv = await testServer();
  const c = testClient('smtp_body_checks = fail:broken', testResolver({}, { 'dest.test': local(srv.port) }));
  try {
    const { results } = await c.deliver({}, MESSAGE);
    assert.deepEqual([results[0]!.status, results[0]!.dsn], ['deferred', '4.3.0'], JSON.stringify(results));
    assert.equal(results[0]!.reason, 'local data error while talking to dest.test[127.0.0.1]');
    assert.ok(c.log.lines.some((l) => l.startsWith('warning: 4ABCDEF012: smtp body checks lookup error')), c.log.lines.join('\n'));
    assert.equal(srv.received.length, 0);
  } finally {
    c.close();
    await srv.close();
  }
});
