/**
 * smtp_delivery_status_filter through the real master: a relayhost (an
 * smtp-server here) refuses the recipient with "550 5.1.1 no such user"; a
 * regexp: filter turns that 5.1.1 into 4.1.1, so smtp(8) logs the recipient
 * status=deferred with the filter's code, no bounce is sent, and the
 * message waits in the deferred queue (postern queue -j) with the reason.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import { SMTPServer } from 'smtp-server';
import { freePort } from '../lib/instance.js';
import { startSystem, type MailSystem } from '../lib/system.js';

interface QueueRow {
  readonly queue_name: string;
  readonly queue_id: string;
  readonly recipients: readonly { readonly address: string; readonly delay_reason?: string }[];
}

describe('smtp_delivery_status_filter: a 5XX reject the filter makes 4.X.X is deferred, not bounced', () => {
  let sys: MailSystem;
  let relay: SMTPServer;
  let relayPort = 0;
  const rcpts: string[] = [];

  before(async () => {
    relayPort = await freePort();
    relay = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS', 'AUTH'],
      logger: false,
      onRcptTo(address, _session, callback) {
        rcpts.push(address.address);
        callback(Object.assign(new Error('5.1.1 no such user'), { responseCode: 550 }));
      },
    });
    await new Promise<void>((r) => relay.listen(relayPort, '127.0.0.1', r));
    sys = await startSystem({
      before: (inst) => {
        const file = join(inst.configDir, 'smtp_dsn_filter');
        writeFileSync(file, '/^5(\\.1\\.1 .*no such user.*)/ 4$1\n');
        return { relayhost: `[127.0.0.1]:${relayPort}`, smtp_delivery_status_filter: `regexp:${file}` };
      },
    });
  });

  after(async () => {
    await sys?.inst.dispose();
    await new Promise<void>((resolve) => (relay ? relay.close(() => resolve()) : resolve()));
  });

  test('logged dsn=4.1.1 status=deferred with the server text; the message stays in the deferred queue; no bounce', async () => {
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: sys.smtpPort, ignoreTLS: true });
    await transport.sendMail({
      envelope: { from: 'sender@example.test', to: ['ghost@remote.test'] },
      raw: 'From: sender@example.test\r\nTo: ghost@remote.test\r\nSubject: filtered\r\n\r\nthe body\r\n',
    });
    transport.close();
    const reason = `host 127.0.0.1[127.0.0.1] said: 550 5.1.1 no such user (in reply to RCPT TO command)`;
    const line = await sys.inst.waitForLog(/\/smtp\[\d+\]: (\w+): to=<ghost@remote\.test>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:\d+, .*dsn=([\d.]+), status=(\w+) \((.*)\)\n/, 30_000);
    const id = line[1]!;
    assert.deepEqual([line[2], line[3], line[4]], ['4.1.1', 'deferred', reason]);
    assert.deepEqual(rcpts, ['ghost@remote.test']);

    // qmgr moves it to the deferred queue once smtp(8) answers
    let row: QueueRow | undefined;
    let listed = '';
    const deadline = Date.now() + 30_000;
    while (!row && Date.now() < deadline) {
      const j = await sys.inst.postern(['queue', '-j']);
      assert.equal(j.code, 0, j.stderr);
      listed = j.stdout;
      row = listed.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as QueueRow).find((r) => r.queue_id === id && r.queue_name === 'deferred');
      if (!row) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(row, `${id} not in the deferred queue: ${listed}`);
    assert.deepEqual(row.recipients.map((r) => [r.address, r.delay_reason]), [['ghost@remote.test', reason]]);
    assert.doesNotMatch(sys.inst.log, /status=bounced/);
    assert.doesNotMatch(sys.inst.log, /sender non-delivery notification/);
    assert.doesNotMatch(sys.inst.log, /smtp_delivery_status_filter: /);
  });
});
