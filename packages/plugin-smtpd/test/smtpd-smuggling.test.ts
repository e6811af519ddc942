import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RawClient, startRig } from './helpers.js';

test('smtpd_forbid_bare_newline = yes: bare <LF> in a command is refused and the client disconnected', async () => {
  const rig = await startRig({ smtpd_forbid_bare_newline: 'yes', smtpd_forbid_bare_newline_exclusions: '' });
  try {
    const c = await RawClient.open(rig.port);
    await c.reply();
    c.send('EHLO client.example\n');
    assert.equal(await c.reply(), '550 5.5.2 Error: bare <LF> received');
    await c.waitClose();
  } finally {
    await rig.stop();
  }
});

test('smtpd_forbid_bare_newline = yes: bare <LF> in DATA ends the session, nothing queued', async () => {
  const rig = await startRig({ smtpd_forbid_bare_newline: 'yes', smtpd_forbid_bare_newline_exclusions: '' });
  try {
    const c = await RawClient.open(rig.port);
    await c.reply();
    await c.cmd('EHLO client.example');
    await c.cmd('MAIL FROM:<a@client.example>');
    await c.cmd('RCPT TO:<bob@example.com>');
    await c.cmd('DATA');
    c.send('Subject: x\r\n\r\nhello\n.\nMAIL FROM:<evil@example.com>\r\n');
    assert.equal(await c.reply(), '550 5.5.2 Error: bare <LF> received');
    await c.waitClose();
    await rig.log.waitFor(/^disconnect/);
    assert.equal(rig.cleanup.submitted.length, 0);
    assert.ok(rig.log.lines.some((l) => l.includes('reject: DATA from unknown[127.0.0.1]: 550 5.5.2 Error: bare <LF> received')), rig.log.lines.join('\n'));
  } finally {
    await rig.stop();
  }
});

test('smtpd_forbid_bare_newline_exclusions ($mynetworks) exempts the client', async () => {
  const rig = await startRig({ smtpd_forbid_bare_newline: 'yes' });
  try {
    const c = await RawClient.open(rig.port);
    await c.reply();
    c.send('EHLO client.example\n');
    assert.match((await c.reply())!, /^250-mx\.example\.com/);
    await c.cmd('QUIT');
  } finally {
    await rig.stop();
  }
});

test('default (no): <LF>.<LF> does not end DATA, so a smuggled message stays inside the first one', async () => {
  const rig = await startRig();
  try {
    const c = await RawClient.open(rig.port);
    await c.reply();
    await c.cmd('EHLO client.example');
    await c.cmd('MAIL FROM:<a@client.example>');
    await c.cmd('RCPT TO:<bob@example.com>');
    await c.cmd('DATA');
    c.send(
      'Subject: one\r\n\r\nfirst\n.\nMAIL FROM:<admin@example.com>\nRCPT TO:<bob@example.com>\nDATA\nSubject: smuggled\n\nx\r\n.\r\n',
    );
    assert.match((await c.reply())!, /^250 2\.0\.0 Ok: queued as /);
    assert.equal(await c.cmd('QUIT'), '221 2.0.0 Bye');
    await c.waitClose();
    assert.equal(rig.cleanup.submitted.length, 1);
    assert.match(rig.cleanup.submitted[0]!.content, /first\n\.\nMAIL FROM:<admin@example\.com>\n/);
  } finally {
    await rig.stop();
  }
});
