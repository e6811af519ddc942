/**
 * Milters (MILTER_README) through the real master: smtpd_milters with the
 * real opendkim (messages leave signed, and python3-dkim verifies the
 * signature with the generated key) followed by a scripted milter (testkit's
 * milter server) that refuses, holds, discards and edits; non_smtpd_milters with opendkim for
 * sendmail/pickup mail; and milter_default_action for a milter that is down.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { freePort } from '../lib/instance.js';
import { parseMboxSettled, type MboxMessage } from '../lib/mbox.js';
import type { MilterServer } from '@postern/testkit';
import { OPENDKIM_MISSING, Opendkim, startTestMilter } from '../lib/milters.js';
import { startSystem, type MailSystem } from '../lib/system.js';
import { LineClient } from '../lib/line-client.js';

const require = createRequire(import.meta.url);
const SENDMAIL = join(dirname(require.resolve('@postern/cli/package.json')), 'dist', 'src', 'bin', 'sendmail.js');

describe('milters: opendkim and a rejecting milter', { skip: OPENDKIM_MISSING }, () => {
  let sys: MailSystem;
  let dkim: Opendkim;
  let milter: MilterServer;
  let deadPort: number;
  let downPort: number;

  before(async () => {
    dkim = new Opendkim('example.test');
    await dkim.start();
    milter = await startTestMilter();
    deadPort = await freePort();
    downPort = await freePort();
    sys = await startSystem({
      aliases: 'postmaster: root\nalice: root\nbob: root\ncarol: root\nadded: root\ndropped: root\nblocked: root\n',
      main: {
        smtpd_milters: `inet:127.0.0.1:${dkim.port}, { inet:127.0.0.1:${milter.port}, command_timeout=10s }`,
        non_smtpd_milters: `inet:127.0.0.1:${dkim.port}`,
        milter_default_action: 'tempfail',
      },
      extraMaster: `pickup    unix  n       -       n       2       1       pickup
127.0.0.1:${downPort} inet n - n - - smtpd -o smtpd_milters=inet:127.0.0.1:${deadPort}
`,
    });
  });
  after(async () => {
    await sys?.inst.dispose();
    dkim?.stop();
    await milter?.stop();
  });

  const mailbox = async (count: number): Promise<MboxMessage[]> => {
    const file = join(sys.mailDir, 'root');
    const deadline = Date.now() + 20_000;
    for (;;) {
      const msgs = existsSync(file) ? parseMboxSettled(sys.mbox('root')) : [];
      if (msgs.length >= count) return msgs;
      if (Date.now() > deadline) throw new Error(`mailbox has ${msgs.length} of ${count} messages; log:\n${sys.inst.log}\nopendkim:\n${dkim.log}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  async function smtp(port: number, from: string, rcpts: string[], message: string): Promise<string[]> {
    const c = await LineClient.open(port);
    const reply = async (): Promise<string> => {
      for (;;) {
        const line = await c.next();
        if (/^\d{3}( |$)/.test(line)) return line;
      }
    };
    const command = (line: string) => (c.send(line), reply());
    const out: string[] = [];
    await reply();
    await command('EHLO client.example');
    out.push(await command(`MAIL FROM:<${from}>`));
    if (out[0]!.startsWith('250')) {
      for (const r of rcpts) out.push(await command(`RCPT TO:<${r}>`));
      const data = await command('DATA');
      out.push(data);
      if (data.startsWith('354')) out.push(await command(`${message.replace(/\n/g, '\r\n')}.`));
    }
    await command('QUIT');
    c.close();
    return out;
  }

  test('smtpd_milters: signed by opendkim (the signature verifies), then edited by the second milter', async () => {
    const replies = await smtp(sys.smtpPort, 'alice@example.test', ['bob@localhost', 'dropped@localhost'], 'From: Alice <alice@example.test>\nTo: bob@localhost\nSubject: signed\nMessage-ID: <m1@example.test>\n\nreplace me\n');
    assert.deepEqual(replies.slice(0, 3), ['250 2.1.0 Ok', '250 2.1.5 Ok', '250 2.1.5 Ok']);
    assert.match(replies[4]!, /^250 2\.0\.0 Ok: queued as \w+$/);
    const id = replies[4]!.split(' ').pop()!;
    await sys.inst.waitForLog(new RegExp(`${id}: to=<root@mail\\.example\\.test>, orig_to=<added@localhost>, relay=local, .*status=sent`));
    const msgs = await mailbox(1);
    const bob = msgs.find((m) => m.headers.get('subject')?.[0] === '[milter] signed')!;
    assert.ok(bob, 'delivered, with the Subject: the milter changed');
    assert.ok(!sys.inst.log.includes('orig_to=<dropped@localhost>'), 'the recipient the milter deleted got nothing');
    assert.match(bob.headers.get('dkim-signature')?.[0] ?? '', /d=example\.test; s=sel;/);
    assert.deepEqual(bob.headers.get('x-test-milter'), ['seen']);
    assert.equal(bob.body, 'the milter replaced this body\n');
    // the second milter changed Subject: and the body after opendkim signed: the signature must fail...
    assert.equal(dkim.verify(bob.text).ok, false, 'an edited message does not verify');
    // ...and a message the second milter only holds verifies once released
    const held = await smtp(sys.smtpPort, 'alice@example.test', ['carol@localhost'], 'From: alice@example.test\nTo: carol@localhost\nSubject: please hold\n\nheld body\n');
    assert.match(held.at(-1)!, /^250 2\.0\.0 Ok: queued as \w+$/);
    const heldId = held.at(-1)!.split(' ').pop()!;
    await sys.inst.waitForLog(new RegExp(`${heldId}: milter-hold: END-OF-MESSAGE from unknown\\[127\\.0\\.0\\.1\\]: held by the test milter; from=<alice@example\\.test> proto=ESMTP helo=<client\\.example>`));
    const q = await sys.inst.postern(['queue', '-p']);
    assert.match(q.stdout, new RegExp(`${heldId}!`), 'held: "!" in the queue listing');
    const released = await sys.inst.postern(['super', '-H', heldId]);
    assert.equal(released.code, 0, released.stderr);
    await sys.inst.postern(['queue', '-f']);
    const after = await mailbox(msgs.length + 1);
    const carol = after.find((m) => m.headers.get('subject')?.[0] === 'please hold')!;
    assert.match(carol.headers.get('dkim-signature')?.[0] ?? '', /d=example\.test; s=sel;/);
    const check = dkim.verify(carol.text);
    assert.ok(check.ok, `the signature verifies: ${check.output}\n${carol.text}`);
  });

  test('smtpd_milters: the second milter refuses MAIL, RCPT and the message, with Postfix log lines', async () => {
    const spam = await smtp(sys.smtpPort, 'spammer@example.org', ['bob@localhost'], '');
    assert.deepEqual(spam, ['550 5.7.1 spammer go away']);
    await sys.inst.waitForLog(/NOQUEUE: milter-reject: MAIL from unknown\[127\.0\.0\.1\]: 550 5\.7\.1 spammer go away; from=<spammer@example\.org> proto=ESMTP helo=<client\.example>/);
    const rcpt = await smtp(sys.smtpPort, 'alice@example.test', ['blocked@localhost', 'bob@localhost'], 'Subject: tempfail\n\nx\n');
    assert.equal(rcpt[1], '550 5.7.1 Command rejected');
    assert.equal(rcpt[2], '250 2.1.5 Ok');
    assert.equal(rcpt[4], '451 4.7.1 Service unavailable - try again later');
    await sys.inst.waitForLog(/milter-reject: RCPT from unknown\[127\.0\.0\.1\]: 550 5\.7\.1 Command rejected; from=<alice@example\.test> to=<blocked@localhost>/);
    await sys.inst.waitForLog(/: milter-reject: END-OF-MESSAGE from unknown\[127\.0\.0\.1\]: 451 4\.7\.1 Service unavailable - try again later;/);
    const discarded = await smtp(sys.smtpPort, 'alice@example.test', ['bob@localhost'], 'Subject: discard me\n\nx\n');
    assert.match(discarded.at(-1)!, /^250 2\.0\.0 Ok/);
    await sys.inst.waitForLog(/milter-discard: END-OF-MESSAGE from unknown\[127\.0\.0\.1\]: milter triggers DISCARD action/);
    // what the milter was told: connect, helo and the macros Postfix sends by default
    const s = milter.sessions.find((x) => x.mail.some((m) => m[0] === '<spammer@example.org>'))!;
    assert.deepEqual(s.connect, { name: '[127.0.0.1]', family: '4', port: s.connect!.port, address: '127.0.0.1' });
    assert.equal(s.helo, 'client.example');
    assert.equal(s.macros.get('j'), 'mail.example.test');
    assert.equal(s.macros.get('{daemon_name}'), 'mail.example.test');
    assert.equal(s.macros.get('_'), 'unknown [127.0.0.1]');
    assert.equal(s.macros.get('{mail_addr}'), 'spammer@example.org');
  });

  test('milter_default_action: a milter that is down gives 451 4.7.1 (tempfail)', async () => {
    const r = await smtp(downPort, 'alice@example.test', ['bob@localhost'], '');
    assert.equal(r[0], '451 4.7.1 Service unavailable - try again later');
    await sys.inst.waitForLog(new RegExp(`warning: milter inet:127\\.0\\.0\\.1:${deadPort}: connect to inet:127\\.0\\.0\\.1:${deadPort}: connect ECONNREFUSED`));
  });

  test('non_smtpd_milters: sendmail mail is signed by opendkim too', async () => {
    const before = existsSync(join(sys.mailDir, 'root')) ? parseMboxSettled(sys.mbox('root')).length : 0;
    const r = await new Promise<number | null>((resolve) => {
      const child = spawn(process.execPath, [SENDMAIL, '-C', sys.inst.configDir, '-f', 'alice@example.test', 'bob@localhost'], { stdio: ['pipe', 'ignore', 'inherit'] });
      child.stdin.end('From: alice@example.test\nTo: bob@localhost\nSubject: from sendmail\n\nlocal submission\n');
      child.on('close', resolve);
    });
    assert.equal(r, 0);
    const msgs = await mailbox(before + 1);
    const m = msgs.find((x) => x.headers.get('subject')?.[0] === 'from sendmail')!;
    assert.match(m.headers.get('dkim-signature')?.[0] ?? '', /d=example\.test; s=sel;/);
    const check = dkim.verify(m.text);
    assert.ok(check.ok, check.output);
  });
});
