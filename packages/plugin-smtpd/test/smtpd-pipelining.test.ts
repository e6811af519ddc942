import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RawClient, startRig } from './helpers.js';

test('PIPELINING: a whole transaction in one write gets its replies in order', async () => {
  const rig = await startRig();
  try {
    const c = await RawClient.open(rig.port);
    await c.reply();
    await c.cmd('EHLO client.example');
    c.send('MAIL FROM:<a@client.example>\r\nRCPT TO:<bob@example.com>\r\nRCPT TO:<nobody@elsewhere.example>\r\nDATA\r\n');
    assert.equal(await c.reply(), '250 2.1.0 Ok');
    assert.equal(await c.reply(), '250 2.1.5 Ok');
    assert.equal(await c.reply(), '250 2.1.5 Ok');
    assert.equal(await c.reply(), '354 End data with <CR><LF>.<CR><LF>');
    c.send('Subject: p\r\n\r\nbody\r\n.\r\nRSET\r\nQUIT\r\n');
    assert.match((await c.reply())!, /^250 2\.0\.0 Ok: queued as /);
    assert.equal(await c.reply(), '250 2.0.0 Ok');
    assert.equal(await c.reply(), '221 2.0.0 Bye');
    await c.waitClose();
    assert.equal(rig.cleanup.submitted.length, 1);
  } finally {
    await rig.stop();
  }
});

test('reject_unauth_pipelining: a HELO client that pipelines is refused', async () => {
  const rig = await startRig({ smtpd_data_restrictions: 'reject_unauth_pipelining' });
  try {
    const c = await RawClient.open(rig.port);
    await c.reply();
    c.send('HELO client.example\r\nMAIL FROM:<a@client.example>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\n');
    assert.equal(await c.reply(), '250 mx.example.com');
    assert.equal(await c.reply(), '250 2.1.0 Ok');
    assert.equal(await c.reply(), '250 2.1.5 Ok');
    assert.equal(await c.reply(), '554 5.5.0 Error: improper use of SMTP command pipelining');
    await c.cmd('QUIT');
  } finally {
    await rig.stop();
  }
});
