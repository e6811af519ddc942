/**
 * postern_smtpd_protocol = lmtp (RFC 2033) as a transcript: LHLO instead of
 * HELO/EHLO, and after DATA one reply per accepted recipient, for success
 * and for a refusal alike.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RawClient, startRig } from './helpers.js';

test('LMTP: LHLO, HELO/EHLO unknown, one reply per accepted recipient after DATA', async () => {
  const rig = await startRig({}, { overrides: { postern_smtpd_protocol: 'lmtp' } });
  try {
    const c = await RawClient.open(rig.port);
    assert.match((await c.reply())!, /^220 /);
    assert.equal(await c.cmd('EHLO client.example'), '500 5.5.2 Error: command not recognized');
    assert.equal(await c.cmd('HELO client.example'), '500 5.5.2 Error: command not recognized');
    assert.equal(await c.cmd('LHLO'), '501 Syntax: LHLO hostname');
    const lhlo = (await c.cmd('LHLO client.example'))!.split('\n');
    assert.equal(lhlo[0], '250-mx.example.com');
    assert.ok(lhlo.includes('250-PIPELINING') && lhlo.includes('250-ENHANCEDSTATUSCODES'));
    assert.equal(await c.cmd('MAIL FROM:<a@client.example>'), '250 2.1.0 Ok');
    assert.equal(await c.cmd('RCPT TO:<bob@example.com>'), '250 2.1.5 Ok');
    assert.match((await c.cmd('RCPT TO:<x@elsewhere.example>'))!, /^250 /);
    assert.match((await c.cmd('RCPT TO:<bad@@example.com>'))!, /^501 /);
    assert.equal(await c.cmd('DATA'), '354 End data with <CR><LF>.<CR><LF>');
    const first = await c.cmd('Subject: lmtp\r\n\r\nbody\r\n.');
    const second = await c.reply();
    assert.match(first!, /^250 2\.0\.0 Ok: queued as \w+$/);
    assert.equal(second, first, 'the second recipient gets its own reply');
    // a refusal after DATA is repeated for each recipient too
    rig.cleanup.answer = () => ({ status: 'rejected', code: 550, dsn: '5.7.1', text: 'content rejected' });
    await c.cmd('MAIL FROM:<a@client.example>');
    await c.cmd('RCPT TO:<bob@example.com>');
    await c.cmd('RCPT TO:<carol@example.com>');
    await c.cmd('RCPT TO:<dave@example.com>');
    await c.cmd('DATA');
    const replies = [await c.cmd('Subject: lmtp\r\n\r\nbody\r\n.'), await c.reply(), await c.reply()];
    assert.deepEqual(replies, Array(3).fill('550 5.7.1 content rejected'));
    assert.equal(await c.cmd('QUIT'), '221 2.0.0 Bye');
    await c.waitClose();
    assert.ok(rig.log.lines.some((l) => /^\w+: client=unknown\[127\.0\.0\.1\]$/.test(l)));
    assert.equal(rig.cleanup.submitted[0]!.request.client?.protocol, 'LMTP');
    assert.match(rig.cleanup.submitted[0]!.content, /by mx\.example\.com \(Postern\) with LMTP id /);
  } finally {
    await rig.stop();
  }
});
