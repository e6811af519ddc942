/**
 * The receiving and local delivery path end to end: a real SMTP client
 * (nodemailer) talks to smtpd under the real master; the message goes through
 * cleanup, trivial-rewrite and qmgr to local(8), and the mailbox is parsed.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import { parseMbox, parseMboxSettled } from '../lib/mbox.js';
import { startSystem, type MailSystem } from '../lib/system.js';
import { waitFor } from '../lib/wait.js';

describe('mail flow: SMTP in, local mbox out', () => {
  let sys: MailSystem;

  before(async () => {
    sys = await startSystem({ aliases: 'postmaster: root\nalice: root\n' });
  });
  after(async () => {
    await sys.inst.dispose();
  });

  test('a message sent over SMTP is delivered to the local mailbox with local(8) headers', async () => {
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: sys.smtpPort, secure: false, ignoreTLS: true });
    const info = await transport.sendMail({
      envelope: { from: 'sender@example.org', to: ['alice@localhost'] },
      from: 'Sender <sender@example.org>',
      to: 'alice@localhost',
      subject: 'first light',
      text: 'Hello.\nFrom the start of a line.\n',
    });
    assert.match(info.response, /^250 2\.0\.0 Ok: queued as \w+$/);
    const queueId = info.response.split(' ').pop()!;
    const mbox = join(sys.mailDir, 'root');
    // a mailbox read while local(8) is still writing it is incomplete: wait for a whole message
    await waitFor('delivery to root', () => (existsSync(mbox) && parseMboxSettled(sys.mbox('root')).length > 0 ? true : undefined));
    const [msg] = parseMbox(sys.mbox('root'));
    assert.match(msg!.fromLine, /^From sender@example\.org  \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}$/);
    assert.deepEqual(msg!.headers.get('return-path'), ['<sender@example.org>']);
    assert.deepEqual(msg!.headers.get('x-original-to'), ['alice@localhost']);
    assert.deepEqual(msg!.headers.get('delivered-to'), ['root@mail.example.test']);
    assert.equal(msg!.headers.get('subject')?.[0], 'first light');
    assert.match(msg!.headers.get('received')![0]!, new RegExp(`by mail\\.example\\.test \\(Postern\\) with E?SMTP id ${queueId}`));
    assert.match(sys.mbox('root'), /^>From the start of a line\.$/m, 'body From_ lines are quoted');
    assert.match(msg!.body, /^From the start of a line\.$/m);
    await sys.inst.waitForLog(new RegExp(`${queueId}: to=<root@mail\\.example\\.test>, orig_to=<alice@localhost>, relay=local, .*dsn=2\\.0\\.0, status=sent \\(delivered to mailbox\\)`));
    await sys.inst.waitForLog(new RegExp(`${queueId}: removed`));
  });

  test('relaying for a non-local destination is refused by default', async () => {
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: sys.smtpPort, secure: false, ignoreTLS: true, localAddress: '127.0.0.2' });
    await assert.rejects(
      transport.sendMail({ envelope: { from: 'a@example.org', to: ['victim@elsewhere.example'] }, raw: 'Subject: x\n\nx\n' }),
      (err: Error & { responseCode?: number }) => err.responseCode === 554 || err.responseCode === 450 || /Relay access denied/.test(err.message),
    );
  });
});
