/**
 * smtp_header_checks through the real master: a message relayed to a
 * relayhost (an smtp-server here that reads the content, then answers 451 so
 * the message stays queued) arrives without X-Secret and with the replaced
 * Subject, while the queued copy (postern cat -q) still has both.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import { SMTPServer } from 'smtp-server';
import { freePort } from '../lib/instance.js';
import { startSystem, type MailSystem } from '../lib/system.js';
import { waitFor } from '../lib/wait.js';

describe('smtp_header_checks: the content changes on the wire, not in the queue', () => {
  let sys: MailSystem;
  let relay: SMTPServer;
  const received: string[] = [];

  before(async () => {
    const relayPort = await freePort();
    relay = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS', 'AUTH'],
      logger: false,
      onData(stream, _session, callback) {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          received.push(Buffer.concat(chunks).toString('utf8'));
          callback(Object.assign(new Error('4.3.0 try again later'), { responseCode: 451 }));
        });
      },
    });
    await new Promise<void>((r) => relay.listen(relayPort, '127.0.0.1', r));
    sys = await startSystem({
      before: (inst) => {
        const file = join(inst.configDir, 'smtp_header_checks');
        writeFileSync(file, '/^X-Secret:/ IGNORE\n/^Subject: (.*)/ REPLACE Subject: [ext] $1\n/^X-Spam: yes/ WARN spam header seen\n');
        return { relayhost: `[127.0.0.1]:${relayPort}`, smtp_header_checks: `regexp:${file}` };
      },
    });
  });

  after(async () => {
    await sys?.inst.dispose();
    await new Promise<void>((resolve) => (relay ? relay.close(() => resolve()) : resolve()));
  });

  test('IGNORE and REPLACE apply to what the relayhost receives; WARN is logged; postern cat shows the original', async () => {
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: sys.smtpPort, ignoreTLS: true });
    await transport.sendMail({
      envelope: { from: 'sender@example.test', to: ['someone@remote.test'] },
      raw: 'From: sender@example.test\r\nTo: someone@remote.test\r\nX-Secret: internal only\r\nSubject: quarterly figures\r\nX-Spam: yes\r\n\r\nthe body\r\n',
    });
    transport.close();
    const wire = await waitFor('the message at the relayhost', () => received[0], 30_000);
    assert.doesNotMatch(wire, /X-Secret/);
    assert.match(wire, /\r\nSubject: \[ext\] quarterly figures\r\n/);
    const deferred = await sys.inst.waitForLog(/\/smtp\[\d+\]: (\w+): to=<someone@remote\.test>, relay=.* status=deferred/);
    const id = deferred[1]!;
    await sys.inst.waitForLog(new RegExp(`/smtp\\[\\d+\\]: ${id}: warning: header X-Spam: yes: spam header seen`));
    const cat = await sys.inst.postern(['cat', '-q', id]);
    assert.equal(cat.code, 0, cat.stderr);
    assert.match(cat.stdout, /^X-Secret: internal only$/m);
    assert.match(cat.stdout, /^Subject: quarterly figures$/m);
  });
});
