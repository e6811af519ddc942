import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isLongQueueId } from '@postern/core';
import { RawClient, startRig } from './helpers.js';

test('main dialogue: greeting, EHLO, MAIL, RCPT, DATA, QUIT; content and logs', async () => {
  const rig = await startRig();
  try {
    const c = await RawClient.open(rig.port);
    assert.equal(await c.reply(), '220 mx.example.com ESMTP Postern');
    assert.equal(
      await c.cmd('EHLO client.example'),
      ['250-mx.example.com', '250-PIPELINING', '250-SIZE 10240000', '250-VRFY', '250-ETRN', '250-ENHANCEDSTATUSCODES', '250-8BITMIME', '250-DSN', '250-SMTPUTF8', '250 CHUNKING'].join('\n'),
    );
    assert.equal(await c.cmd('MAIL FROM:<alice@client.example> SIZE=100 BODY=8BITMIME'), '250 2.1.0 Ok');
    assert.equal(await c.cmd('RCPT TO:<bob@example.com> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;bob@example.com'), '250 2.1.5 Ok');
    assert.equal(await c.cmd('DATA'), '354 End data with <CR><LF>.<CR><LF>');
    c.send('Subject: hi\r\n\r\nhello\r\n..dot\r\n.\r\n');
    const queued = await c.reply();
    assert.equal(await c.cmd('QUIT'), '221 2.0.0 Bye');
    await c.waitClose();
    await rig.log.waitFor(/^disconnect from/);

    assert.equal(rig.cleanup.submitted.length, 1);
    const { request, content, queueId } = rig.cleanup.submitted[0]!;
    // smtpd makes the queue ID itself (a Postfix long ID), so the content goes out without waiting for cleanup
    assert.ok(isLongQueueId(queueId), queueId);
    assert.equal(request.queueId, queueId);
    assert.equal(queued, `250 2.0.0 Ok: queued as ${queueId}`);
    assert.equal(request.sender, 'alice@client.example');
    assert.deepEqual(request.recipients, [{ address: 'bob@example.com', notify: ['SUCCESS', 'FAILURE'], orcpt: 'rfc822;bob@example.com' }]);
    assert.equal(request.bodyType, '8BITMIME');
    assert.equal(request.client?.protocol, 'ESMTP');
    assert.equal(request.client?.helo, 'client.example');
    const lines = content.split('\n');
    assert.equal(lines[0], 'Received: from client.example (unknown [127.0.0.1])');
    assert.equal(lines[1], `\tby mx.example.com (Postern) with ESMTP id ${queueId}`);
    assert.match(lines[2]!, /^\tfor <bob@example\.com>; \w{3}, [ \d]\d \w{3} \d{4} \d\d:\d\d:\d\d [+-]\d{4}/);
    assert.deepEqual(lines.slice(3), ['Subject: hi', '', 'hello', '.dot', '']);

    assert.deepEqual(rig.log.lines.filter((l) => !l.startsWith('warning')), [
      'connect from unknown[127.0.0.1]',
      `${queueId}: client=unknown[127.0.0.1]`,
      'disconnect from unknown[127.0.0.1] ehlo=1 mail=1 rcpt=1 data=1 quit=1 commands=5',
    ]);
  } finally {
    await rig.stop();
  }
});

test('replies to bad sequences and syntax, as Postfix gives them', async () => {
  const rig = await startRig();
  try {
    const c = await RawClient.open(rig.port);
    await c.reply();
    const cases: [string, string][] = [
      ['HELO', '501 Syntax: HELO hostname'],
      ['RCPT TO:<a@example.com>', '503 5.5.1 Error: need MAIL command'],
      ['DATA', '503 5.5.1 Error: need RCPT command'],
      ['FOO bar', '500 5.5.2 Error: command not recognized'],
      ['AUTH PLAIN', '503 5.5.1 Error: authentication not enabled'],
      ['MAIL FROM:<a@b.example> FOO=bar', '555 5.5.4 Unsupported option: FOO=bar'],
      ['MAIL FROM:<a@b.example> SIZE=99999999', '552 5.3.4 Message size exceeds fixed limit'],
      ['MAIL TO:<a@b.example>', '501 5.5.4 Syntax: MAIL FROM:<address>'],
      ['MAIL FROM:<a@b.example', '501 5.1.7 Bad sender address syntax'],
      ['MAIL FROM:<>', '250 2.1.0 Ok'],
      ['MAIL FROM:<x@y.example>', '503 5.5.1 Error: nested MAIL command'],
      ['RCPT TO:<>', '501 5.1.3 Bad recipient address syntax'],
      ['RCPT TO:<a@example.com> NOTIFY=BOGUS', '501 5.5.4 Error: Bad NOTIFY parameter syntax'],
      ['DATA', '554 5.5.1 Error: no valid recipients'],
      ['VRFY root', '252 2.0.0 root'],
      ['VRFY', '501 5.5.4 Syntax: VRFY address [SMTPUTF8]'],
      ['STARTTLS', '502 5.5.1 Error: command not implemented'],
      ['ETRN example.com', '503 5.5.1 Error: MAIL transaction in progress'],
      ['RSET', '250 2.0.0 Ok'],
      ['NOOP', '250 2.0.0 Ok'],
      ['QUIT', '221 2.0.0 Bye'],
    ];
    for (const [cmd, want] of cases) assert.equal(await c.cmd(cmd), want, cmd);
    await c.waitClose();
    const disc = await rig.log.waitFor(/^disconnect from/);
    assert.equal(
      disc,
      'disconnect from unknown[127.0.0.1] helo=0/1 starttls=0/1 auth=0/1 mail=1/6 rcpt=0/3 data=0/2 rset=1 noop=1 vrfy=1/2 etrn=0/1 quit=1 unknown=0/1 commands=5/21',
    );
  } finally {
    await rig.stop();
  }
});

test('strict_rfc821_envelopes = yes: an address without <> is refused with 501', async () => {
  const rig = await startRig({ strict_rfc821_envelopes: 'yes' });
  try {
    const c = await RawClient.open(rig.port);
    await c.reply();
    await c.cmd('EHLO client.example');
    assert.equal(await c.cmd('MAIL FROM:a@client.example'), '501 5.1.7 Bad sender address syntax');
    assert.equal(await c.cmd('MAIL FROM:<a@client.example>'), '250 2.1.0 Ok');
    assert.equal(await c.cmd('RCPT TO:bob@example.com'), '501 5.1.3 Bad recipient address syntax');
    assert.equal(await c.cmd('RCPT TO:<bob@example.com>'), '250 2.1.5 Ok');
    await c.cmd('QUIT');
  } finally {
    await rig.stop();
  }
});
