import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RawClient, startRig } from './helpers.js';

async function toData(c: RawClient, rcpt = 'bob@example.com'): Promise<void> {
  await c.reply();
  await c.cmd('EHLO client.example');
  assert.equal(await c.cmd('MAIL FROM:<a@client.example>'), '250 2.1.0 Ok');
  assert.equal(await c.cmd(`RCPT TO:<${rcpt}>`), '250 2.1.5 Ok');
  assert.equal(await c.cmd('DATA'), '354 End data with <CR><LF>.<CR><LF>');
}

test('message_size_limit: 552 5.3.4 after the final dot, nothing queued, session goes on', async () => {
  const rig = await startRig({ message_size_limit: '200' });
  try {
    const c = await RawClient.open(rig.port);
    await toData(c);
    c.send(`Subject: big\r\n\r\n${'x'.repeat(70)}\r\n`.repeat(20) + '.\r\n');
    assert.equal(await c.reply(), '552 5.3.4 Error: message file too big');
    assert.equal(await c.cmd('NOOP'), '250 2.0.0 Ok');
    assert.equal(await c.cmd('QUIT'), '221 2.0.0 Bye');
    await c.waitClose();
    assert.equal(rig.cleanup.submitted.length, 0);
    assert.ok(rig.cleanup.started.every((s) => s.outcome !== 'done'));
    await rig.log.waitFor(/^disconnect/);
    assert.ok(rig.log.lines.some((l) => / data=0\/1 /.test(l)), rig.log.lines.join('\n'));
  } finally {
    await rig.stop();
  }
});

test('smtpd_recipient_limit: 452 4.5.3 Error: too many recipients', async () => {
  const rig = await startRig({ smtpd_recipient_limit: '2' });
  try {
    const c = await RawClient.open(rig.port);
    await c.reply();
    await c.cmd('EHLO client.example');
    await c.cmd('MAIL FROM:<a@client.example>');
    assert.equal(await c.cmd('RCPT TO:<r1@example.com>'), '250 2.1.5 Ok');
    assert.equal(await c.cmd('RCPT TO:<r2@example.com>'), '250 2.1.5 Ok');
    assert.equal(await c.cmd('RCPT TO:<r3@example.com>'), '452 4.5.3 Error: too many recipients');
    await c.cmd('DATA');
    c.send('Subject: x\r\n\r\n.\r\n');
    assert.match((await c.reply())!, /^250 /);
    await c.cmd('QUIT');
    assert.deepEqual(rig.cleanup.submitted[0]!.request.recipients.map((r) => r.address), ['r1@example.com', 'r2@example.com']);
    // Two recipients: Received: has no "for" clause.
    assert.match(rig.cleanup.submitted[0]!.content, /^Received: from client\.example \(unknown \[127\.0\.0\.1\]\)\n\tby mx\.example\.com \(Postern\) with ESMTP id \w+;\n\t\w{3}, /);
  } finally {
    await rig.stop();
  }
});

test('error limits: sleep past the soft limit, 421 4.7.0 at the hard limit', async () => {
  const rig = await startRig({ smtpd_soft_error_limit: '2', smtpd_hard_error_limit: '4', smtpd_error_sleep_time: '3s' });
  try {
    const c = await RawClient.open(rig.port);
    await c.reply();
    for (let i = 0; i < 3; i++) assert.equal(await c.cmd('BOGUS'), '500 5.5.2 Error: command not recognized');
    assert.deepEqual(rig.sleeps, [3000]);
    assert.equal(await c.cmd('BOGUS'), '500 5.5.2 Error: command not recognized');
    assert.equal(await c.reply(), '421 4.7.0 mx.example.com Error: too many errors');
    await c.waitClose();
    assert.deepEqual(rig.sleeps, [3000, 3000]);
    await rig.log.waitFor(/^disconnect/);
    assert.ok(rig.log.lines.includes('too many errors after UNKNOWN from unknown[127.0.0.1]'));
    assert.ok(rig.log.lines.includes('disconnect from unknown[127.0.0.1] unknown=0/4 commands=0/4'));
  } finally {
    await rig.stop();
  }
});

test('smtpd_timeout: 421 4.4.2 and "timeout after" log line', async () => {
  const rig = await startRig({ smtpd_timeout: '1s' });
  try {
    const c = await RawClient.open(rig.port);
    await c.reply();
    await c.cmd('EHLO client.example');
    assert.equal(await c.reply(), '421 4.4.2 mx.example.com Error: timeout exceeded');
    await c.waitClose();
    await rig.log.waitFor(/^disconnect/);
    assert.ok(rig.log.lines.includes('timeout after EHLO from unknown[127.0.0.1]'));
  } finally {
    await rig.stop();
  }
});

test('client drops mid-DATA: the cleanup call is cancelled, nothing queued, "lost connection after DATA"', async () => {
  const rig = await startRig();
  try {
    const c = await RawClient.open(rig.port);
    await toData(c);
    c.send('Subject: partial\r\n\r\nsome text\r\n');
    // Wait until cleanup has started receiving, then vanish.
    while (rig.cleanup.started.length === 0) await new Promise((r) => setTimeout(r, 5));
    c.end();
    const lost = await rig.log.waitFor(/^lost connection after DATA/);
    assert.match(lost, /^lost connection after DATA \(\d+ bytes\) from unknown\[127\.0\.0\.1\]$/);
    while (rig.cleanup.started[0]!.outcome === undefined) await new Promise((r) => setTimeout(r, 5));
    assert.equal(rig.cleanup.started[0]!.outcome, 'aborted');
    assert.equal(rig.cleanup.submitted.length, 0);
    const disc = await rig.log.waitFor(/^disconnect/);
    assert.equal(disc, 'disconnect from unknown[127.0.0.1] ehlo=1 mail=1 rcpt=1 data=0/1 commands=3/4');
  } finally {
    await rig.stop();
  }
});

test('cleanup failure: 451 4.3.0 Error: queue file write error; cleanup reject: its own code', async () => {
  const rig = await startRig();
  try {
    rig.cleanup.answer = () => {
      throw new Error('disk full');
    };
    const c = await RawClient.open(rig.port);
    await toData(c);
    c.send('Subject: x\r\n\r\n.\r\n');
    assert.equal(await c.reply(), '451 4.3.0 Error: queue file write error');
    rig.cleanup.answer = () => ({ status: 'rejected', code: 550, dsn: '5.7.1', text: 'Error: content rejected' });
    await c.cmd('MAIL FROM:<a@client.example>');
    await c.cmd('RCPT TO:<bob@example.com>');
    await c.cmd('DATA');
    c.send('Subject: x\r\n\r\n.\r\n');
    assert.equal(await c.reply(), '550 5.7.1 Error: content rejected');
    await c.cmd('QUIT');
    assert.equal(rig.cleanup.submitted.length, 0);
  } finally {
    await rig.stop();
  }
});

test('line_length_limit: long command lines are truncated, not fatal', async () => {
  const rig = await startRig({ line_length_limit: '64' });
  try {
    const c = await RawClient.open(rig.port);
    await c.reply();
    assert.equal(await c.cmd(`NOOP ${'x'.repeat(500)}`), '250 2.0.0 Ok');
    assert.equal(await c.cmd(`HELO ${'a'.repeat(100)}`), `250 mx.example.com`);
    await c.cmd('QUIT');
  } finally {
    await rig.stop();
  }
});
