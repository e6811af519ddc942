/**
 * strict_smtputf8 (smtpd.c): a real smtpd on loopback and a raw SMTP client.
 * A non-ASCII MAIL FROM, RCPT TO or VRFY address without SMTPUTF8 gets
 * "553 5.6.7 Must declare SMTPUTF8 to send unicode address" when it is on;
 * with SMTPUTF8, or with it off (the default), the address is accepted.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RawClient, startRig } from './helpers.js';

const MUST_DECLARE = '553 5.6.7 Must declare SMTPUTF8 to send unicode address';

async function dialogue(params: Record<string, string>, steps: readonly (readonly [string, string | RegExp])[]): Promise<string[]> {
  const rig = await startRig(params);
  try {
    const c = await RawClient.open(rig.port);
    try {
      await c.reply();
      await c.cmd('EHLO client.example');
      for (const [cmd, want] of steps) {
        const got = await c.cmd(cmd);
        if (typeof want === 'string') assert.equal(got, want, cmd);
        else assert.match(got ?? '', want, cmd);
      }
      assert.equal(await c.cmd('QUIT'), '221 2.0.0 Bye');
      await c.waitClose();
    } finally {
      c.end();
    }
    return rig.cleanup.submitted.map((m) => m.request.sender);
  } finally {
    await rig.stop();
  }
}

test('strict_smtputf8 = yes: a UTF-8 sender or recipient without SMTPUTF8 is refused; the transaction stays usable', async () => {
  await dialogue({ strict_smtputf8: 'yes' }, [
    ['MAIL FROM:<j\u00f6rg@client.example>', MUST_DECLARE],
    // the refused MAIL started no transaction
    ['RCPT TO:<bob@example.com>', '503 5.5.1 Error: need MAIL command'],
    ['MAIL FROM:<alice@client.example>', '250 2.1.0 Ok'],
    ['RCPT TO:<b\u00f6b@example.com>', MUST_DECLARE],
    ['RCPT TO:<bob@example.com>', '250 2.1.5 Ok'],
    ['RSET', '250 2.0.0 Ok'],
    ['VRFY <b\u00f6b@example.com>', MUST_DECLARE],
  ]);
});

const UTF8_TRANSACTION: readonly (readonly [string, string | RegExp])[] = [
  ['MAIL FROM:<j\u00f6rg@client.example> SMTPUTF8', '250 2.1.0 Ok'],
  ['RCPT TO:<b\u00f6b@example.com>', '250 2.1.5 Ok'],
  ['DATA', '354 End data with <CR><LF>.<CR><LF>'],
  ['Subject: hi\r\n\r\nhello\r\n.', /^250 2\.0\.0 Ok: queued as \S+$/],
  ['VRFY <b\u00f6b@example.com> SMTPUTF8', '252 2.0.0 <b\u00f6b@example.com>'],
];

test('strict_smtputf8 = yes: with SMTPUTF8 the UTF-8 addresses are accepted', async () => {
  assert.deepEqual(await dialogue({ strict_smtputf8: 'yes' }, UTF8_TRANSACTION), ['j\u00f6rg@client.example']);
});

test('strict_smtputf8 = no (the default): UTF-8 addresses without SMTPUTF8 are accepted', async () => {
  assert.deepEqual(
    await dialogue({}, [
      ['MAIL FROM:<j\u00f6rg@client.example>', '250 2.1.0 Ok'],
      ['RCPT TO:<b\u00f6b@example.com>', '250 2.1.5 Ok'],
      ['DATA', '354 End data with <CR><LF>.<CR><LF>'],
      ['Subject: hi\r\n\r\nhello\r\n.', /^250 2\.0\.0 Ok: queued as \S+$/],
      ['VRFY <b\u00f6b@example.com>', '252 2.0.0 <b\u00f6b@example.com>'],
    ]),
    ['j\u00f6rg@client.example'],
  );
});
