/**
 * CHUNKING/BDAT (RFC 3030) over a raw socket, with the replies of
 * Postfix's smtpd.c bdat_cmd().
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RawClient, startRig } from './helpers.js';

async function transaction(c: RawClient): Promise<void> {
  await c.reply();
  const ehlo = (await c.cmd('EHLO client.example'))!;
  assert.match(ehlo, /\n250 CHUNKING$/, 'CHUNKING is advertised, last as Postfix lists it');
  assert.equal(await c.cmd('MAIL FROM:<a@client.example>'), '250 2.1.0 Ok');
  assert.equal(await c.cmd('RCPT TO:<bob@example.com>'), '250 2.1.5 Ok');
}

test('BDAT: chunks as raw octets (line-start dots untouched), BDAT LAST queues, the session goes on', async () => {
  const rig = await startRig();
  try {
    const c = await RawClient.open(rig.port);
    await transaction(c);
    const one = 'Subject: chunked\r\n\r\n.leading dot stays\r\n';
    const two = '.\r\nlast line\r\n';
    c.send(`BDAT ${one.length}\r\n${one}`);
    assert.equal(await c.reply(), `250 2.0.0 Ok: ${one.length} bytes`);
    c.send(`BDAT ${two.length} LAST\r\n${two}`);
    assert.match((await c.reply())!, new RegExp(`^250 2\\.0\\.0 Ok: ${one.length + two.length} bytes queued as \\w+$`));
    assert.equal(await c.cmd('NOOP'), '250 2.0.0 Ok');
    assert.equal(await c.cmd('QUIT'), '221 2.0.0 Bye');
    await c.waitClose();
    assert.equal(rig.cleanup.submitted.length, 1);
    const body = rig.cleanup.submitted[0]!.content;
    assert.ok(body.endsWith('Subject: chunked\n\n.leading dot stays\n.\nlast line\n'), body);
    await rig.log.waitFor(/^disconnect/);
    assert.ok(rig.log.lines.some((l) => / bdat=2 /.test(l)), rig.log.lines.join('\n'));
  } finally {
    await rig.stop();
  }
});

test('BDAT pipelined with MAIL and RCPT in one write, then a second transaction with BDAT 0 LAST', async () => {
  const rig = await startRig();
  try {
    const c = await RawClient.open(rig.port);
    await c.reply();
    await c.cmd('EHLO client.example');
    const msg = 'Subject: p\r\n\r\nbody\r\n';
    c.send(`MAIL FROM:<a@client.example>\r\nRCPT TO:<bob@example.com>\r\nBDAT ${msg.length} LAST\r\n${msg}MAIL FROM:<b@client.example>\r\nRCPT TO:<bob@example.com>\r\nBDAT ${msg.length}\r\n${msg}BDAT 0 LAST\r\nQUIT\r\n`);
    assert.equal(await c.reply(), '250 2.1.0 Ok');
    assert.equal(await c.reply(), '250 2.1.5 Ok');
    assert.match((await c.reply())!, /^250 2\.0\.0 Ok: 20 bytes queued as /);
    assert.equal(await c.reply(), '250 2.1.0 Ok');
    assert.equal(await c.reply(), '250 2.1.5 Ok');
    assert.equal(await c.reply(), '250 2.0.0 Ok: 20 bytes');
    assert.match((await c.reply())!, /^250 2\.0\.0 Ok: 20 bytes queued as /);
    assert.equal(await c.reply(), '221 2.0.0 Bye');
    assert.deepEqual(rig.cleanup.submitted.map((m) => m.request.sender), ['a@client.example', 'b@client.example']);
  } finally {
    await rig.stop();
  }
});

test('a 2 MB chunk sent in pieces reaches cleanup whole', async () => {
  const rig = await startRig();
  try {
    const c = await RawClient.open(rig.port);
    await transaction(c);
    const line = `${'y'.repeat(998)}\r\n`;
    const body = `Subject: big\r\n\r\n${line.repeat(2000)}`;
    c.send(`BDAT ${body.length} LAST\r\n`);
    for (let i = 0; i < body.length; i += 65536) c.send(body.slice(i, i + 65536));
    assert.match((await c.reply())!, new RegExp(`^250 2\\.0\\.0 Ok: ${body.length} bytes queued as `));
    await c.cmd('QUIT');
    assert.equal(rig.cleanup.submitted[0]!.content.split('\n').filter((l) => l === 'y'.repeat(998)).length, 2000);
  } finally {
    await rig.stop();
  }
});

test('BDAT and message_size_limit: the chunk is read and dropped, later chunks are discarded until LAST', async () => {
  const rig = await startRig({ message_size_limit: '100' });
  try {
    const c = await RawClient.open(rig.port);
    await transaction(c);
    const small = 'Subject: s\r\n\r\n';
    c.send(`BDAT ${small.length}\r\n${small}`);
    assert.equal(await c.reply(), `250 2.0.0 Ok: ${small.length} bytes`);
    c.send(`BDAT 120\r\n${'x'.repeat(118)}\r\n`);
    assert.equal(await c.reply(), '552 5.3.4 Chunk exceeds message size limit');
    c.send('BDAT 5\r\nabcde');
    assert.equal(await c.reply(), '551 5.0.0 Discarded 5 bytes after earlier error');
    c.send('BDAT 3 LAST\r\nxyz');
    assert.equal(await c.reply(), '551 5.0.0 Discarded 3 bytes after earlier error');
    assert.equal(await c.cmd('RCPT TO:<bob@example.com>'), '503 5.5.1 Error: need MAIL command', 'LAST ended the transaction');
    assert.equal(await c.cmd('QUIT'), '221 2.0.0 Bye');
    assert.equal(rig.cleanup.submitted.length, 0);
    assert.ok(rig.log.lines.some((l) => /BDAT request from .* exceeds message size limit/.test(l)));
  } finally {
    await rig.stop();
  }
});

test('BDAT refusals: no recipients, a null chunk, commands inside a BDAT transaction, malformed BDAT hangs up', async () => {
  const rig = await startRig();
  try {
    const c = await RawClient.open(rig.port);
    await c.reply();
    await c.cmd('EHLO client.example');
    c.send('BDAT 4 LAST\r\nabcd');
    assert.equal(await c.reply(), '503 5.5.1 Error: need RCPT command');
    await c.cmd('MAIL FROM:<a@client.example>');
    await c.cmd('RCPT TO:<bob@example.com>');
    c.send('BDAT 0\r\n');
    assert.equal(await c.reply(), '551 5.7.1 Null BDAT request');
    assert.equal(await c.cmd('RSET'), '250 2.0.0 Ok');
    await c.cmd('MAIL FROM:<a@client.example>');
    await c.cmd('RCPT TO:<bob@example.com>');
    c.send('BDAT 3\r\nabc');
    assert.equal(await c.reply(), '250 2.0.0 Ok: 3 bytes');
    assert.equal(await c.cmd('MAIL FROM:<x@client.example>'), '503 5.5.1 Error: nested MAIL command');
    assert.equal(await c.cmd('RCPT TO:<x@example.com>'), '503 5.5.1 Error: RCPT after BDAT');
    assert.equal(await c.cmd('DATA'), '503 5.5.1 Error: DATA after BDAT');
    assert.equal(await c.cmd('BDAT 1x'), '521 5.5.4 Syntax: BDAT count [LAST]');
    await c.waitClose();
    assert.equal(rig.cleanup.submitted.length, 0);
  } finally {
    await rig.stop();
  }
});

test('smtpd_discard_ehlo_keywords = chunking: not advertised, BDAT gets 521 and the connection closes', async () => {
  const rig = await startRig({ smtpd_discard_ehlo_keywords: 'chunking' });
  try {
    const c = await RawClient.open(rig.port);
    await c.reply();
    assert.doesNotMatch((await c.cmd('EHLO client.example'))!, /CHUNKING/);
    assert.equal(await c.cmd('BDAT 1 LAST'), '521 5.5.1 Error: command not implemented');
    await c.waitClose();
  } finally {
    await rig.stop();
  }
});

test('a client that stops in the middle of a chunk times out', async () => {
  const rig = await startRig({ smtpd_timeout: '1s' });
  try {
    const c = await RawClient.open(rig.port);
    await transaction(c);
    c.send('BDAT 100\r\nonly a few bytes');
    assert.equal(await c.reply(), '421 4.4.2 mx.example.com Error: timeout exceeded');
    await c.waitClose();
    await rig.log.waitFor(/^timeout after BDAT \(0 bytes\)/);
  } finally {
    await rig.stop();
  }
});
