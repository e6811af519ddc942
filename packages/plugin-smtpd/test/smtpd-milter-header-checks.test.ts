/**
 * milter_header_checks (Postfix 2.7) with smtpd_milters: a milter on
 * loopback adds "X-Milter-Verdict: <the Subject it saw>" at the end of the
 * message; a regexp table matching that header holds, rejects, discards or
 * redirects the message, with Postfix's log lines. The same header in the
 * client's own message does not trigger it.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SMFIF } from '@postern/milter';
import { atEndOfMessage, messageHeader, milterReply, startMilterServer, type MilterServer } from '@postern/testkit';
import { RawClient, startRig, type Rig } from './helpers.js';

/** A milter that adds "X-Milter-Verdict: <subject>" to each message (SMFIR_ADDHEADER). */
const verdictMilter = () =>
  startMilterServer({ actions: SMFIF.ADDHDRS, rule: atEndOfMessage((s) => [milterReply.addHeader('X-Milter-Verdict', messageHeader(s, 'Subject') ?? '')]) });

let dir: string;
let milter: MilterServer;
let rig: Rig;
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'postern-milter-hc-'));
  writeFileSync(
    join(dir, 'milter_header_checks'),
    [
      '/^X-Milter-Verdict: hold/ HOLD milter says hold',
      '/^X-Milter-Verdict: reject/ REJECT 5.7.1 milter verdict: no',
      '/^X-Milter-Verdict: discard/ DISCARD',
      '/^X-Milter-Verdict: redirect/ REDIRECT trap@example.com',
      '',
    ].join('\n'),
  );
  milter = await verdictMilter();
  rig = await startRig({ smtpd_milters: `inet:127.0.0.1:${milter.port}`, milter_header_checks: `regexp:${join(dir, 'milter_header_checks')}` });
});
after(async () => {
  await rig.stop();
  await milter.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** One message with `headers`; the DATA reply. */
async function send(headers: string): Promise<string> {
  const c = await RawClient.open(rig.port);
  assert.match((await c.reply())!, /^220 /);
  assert.match((await c.cmd('EHLO client.example'))!, /^250[- ]/);
  assert.equal(await c.cmd('MAIL FROM:<a@client.example>'), '250 2.1.0 Ok');
  assert.equal(await c.cmd('RCPT TO:<b@example.com>'), '250 2.1.5 Ok');
  assert.equal(await c.cmd('DATA'), '354 End data with <CR><LF>.<CR><LF>');
  c.send(`${headers}\r\n\r\nhello\r\n.\r\n`);
  const reply = (await c.reply())!;
  assert.equal(await c.cmd('QUIT'), '221 2.0.0 Bye');
  await c.waitClose();
  return reply;
}

const tail = 'from unknown[127.0.0.1]; from=<a@client.example> to=<b@example.com> proto=ESMTP helo=<client.example>';

test('HOLD: the milter\'s header puts the message on hold, logged as milter-header-hold', async () => {
  const reply = await send('Subject: hold');
  const id = /^250 2\.0\.0 Ok: queued as (\S+)$/.exec(reply)?.[1];
  assert.ok(id, reply);
  const sub = rig.cleanup.submitted.find((x) => x.queueId === id)!;
  assert.equal(sub.request.flags?.hold, true);
  assert.match(sub.content, /\nX-Milter-Verdict: hold\n/);
  assert.ok(rig.log.lines.includes(`${id}: milter-header-hold: header X-Milter-Verdict: hold ${tail}: milter says hold`), rig.log.lines.join('\n'));
  assert.ok(!rig.log.lines.some((l) => l.includes(`${id}: milter-hold`)), 'no second milter-hold line');
});

test('REJECT: 550 with the table\'s text, one log line', async () => {
  const reply = await send('Subject: reject');
  assert.equal(reply, '550 5.7.1 milter verdict: no');
  const lines = rig.log.lines.filter((l) => l.includes('X-Milter-Verdict: reject'));
  assert.equal(lines.length, 1, rig.log.lines.join('\n'));
  assert.match(lines[0]!, new RegExp(`^\\S+: milter-header-reject: header X-Milter-Verdict: reject ${tail.replace(/[[\].]/g, '\\$&')}: 5\\.7\\.1 milter verdict: no$`));
  assert.ok(!rig.log.lines.some((l) => / milter-reject: END-OF-MESSAGE /.test(l)), 'not logged again as a milter reply');
});

test('DISCARD: 250 to the client, nothing goes to cleanup', async () => {
  const before = rig.cleanup.submitted.length;
  const reply = await send('Subject: discard');
  const id = /^250 2\.0\.0 Ok: queued as (\S+)$/.exec(reply)?.[1];
  assert.ok(id, reply);
  assert.equal(rig.cleanup.submitted.length, before);
  assert.ok(rig.log.lines.includes(`${id}: milter-header-discard: header X-Milter-Verdict: discard ${tail}: `), rig.log.lines.join('\n'));
});

test('REDIRECT: the request carries the redirect address', async () => {
  const reply = await send('Subject: redirect');
  const id = /^250 2\.0\.0 Ok: queued as (\S+)$/.exec(reply)?.[1];
  const sub = rig.cleanup.submitted.find((x) => x.queueId === id)!;
  assert.equal(sub.request.redirect, 'trap@example.com');
  assert.ok(rig.log.lines.includes(`${id}: milter-header-redirect: header X-Milter-Verdict: redirect ${tail}: trap@example.com`));
});

test('the client\'s own header matching the table does not trigger it', async () => {
  const reply = await send('Subject: fine\r\nX-Milter-Verdict: reject\r\nX-Milter-Verdict: hold');
  const id = /^250 2\.0\.0 Ok: queued as (\S+)$/.exec(reply)?.[1];
  assert.ok(id, reply);
  const sub = rig.cleanup.submitted.find((x) => x.queueId === id)!;
  assert.equal(sub.request.flags?.hold, undefined);
  assert.match(sub.content, /\nX-Milter-Verdict: reject\nX-Milter-Verdict: hold\nX-Milter-Verdict: fine\n/);
  assert.ok(!rig.log.lines.some((l) => l.startsWith(`${id}: milter-header-`)), rig.log.lines.join('\n'));
});
