/**
 * Address verification end to end (ADDRESS_VERIFICATION_README): smtpd's
 * reject_unverified_recipient asks verify(8), which sends a probe through
 * cleanup and qmgr; local(8) and smtp(8) find out what they would do without
 * delivering (smtp: MAIL and RCPT only, to a real SMTP server), report to
 * verify, and the next RCPT gets Postfix's answer. sendmail -bv still reports
 * by mail without delivering.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { SMTPServer } from 'smtp-server';
import { freePort } from '../lib/instance.js';
import { parseMboxSettled } from '../lib/mbox.js';
import { startSystem, type MailSystem } from '../lib/system.js';
import { SWAKS, swaks } from '../lib/swaks.js';

const SENDMAIL = join(dirname(createRequire(import.meta.url).resolve('@postern/cli/package.json')), 'dist', 'src', 'bin', 'sendmail.js');

describe('reject_unverified_recipient with probes through the queue', { skip: SWAKS ? false : 'swaks is not installed' }, () => {
  let sys: MailSystem;
  let backend: SMTPServer;
  const backendSaw: string[] = [];

  before(async () => {
    const backendPort = await freePort();
    backend = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      logger: false,
      onRcptTo(addr, _s, cb) {
        backendSaw.push(`RCPT ${addr.address}`);
        if (addr.address.startsWith('gone@')) return cb(Object.assign(new Error('5.1.1 <gone@relay.test>: Recipient address rejected: User unknown'), { responseCode: 550 }));
        cb();
      },
      onData(stream, _s, cb) {
        backendSaw.push('DATA');
        stream.resume();
        stream.on('end', () => cb());
      },
    });
    await new Promise<void>((r) => backend.listen(backendPort, '127.0.0.1', () => r()));
    sys = await startSystem({
      extraMaster: 'verify unix - - n - 1 verify\npickup unix n - n 60 1 pickup\n',
      before: (inst) => {
        writeFileSync(join(inst.configDir, 'transport'), `relay.test smtp:[127.0.0.1]:${backendPort}\n`);
        return {
          local_recipient_maps: '',
          relay_domains: 'relay.test',
          transport_maps: `texthash:${join(inst.configDir, 'transport')}`,
          smtpd_recipient_restrictions: 'reject_unverified_recipient',
          address_verify_poll_count: '3',
          address_verify_poll_delay: '1s',
          address_verify_map: '',
        };
      },
    });
  });
  after(async () => {
    await sys?.inst.dispose();
    await new Promise<void>((r) => backend?.close(() => r()));
  });

  /** RCPT until the answer is no longer "verification in progress"; returns the swaks output. */
  async function settled(rcpt: string): Promise<string> {
    for (let i = 0; i < 10; i++) {
      const r = await swaks(sys.smtpPort, ['--from', 'a@client.example', '--to', rcpt, '--quit-after', 'RCPT']);
      if (!/Address verification in progress/.test(r.out)) return r.out;
    }
    throw new Error(`${rcpt}: still in progress`);
  }

  test('a local user: the probe says "delivers to mailbox", RCPT is accepted, and nothing lands in the mailbox', async () => {
    const out = await settled('root@mail.example.test');
    assert.match(out, /<- {1,2}250 2\.1\.5 Ok/);
    await sys.inst.waitForLog(/to=<root@mail\.example\.test>, relay=local, .*status=deliverable \(delivers to mailbox\)/);
    assert.ok(!existsSync(join(sys.mailDir, 'root')) || !readFileSync(join(sys.mailDir, 'root'), 'utf8').includes('double-bounce'), 'the probe was not delivered');
  });

  test('an unknown local user: 450 4.1.1 ... Recipient address rejected: unverified address: unknown user', async () => {
    const out = await settled('nosuchuser@mail.example.test');
    assert.match(out, /<\*\* +450 4\.1\.1 <nosuchuser@mail\.example\.test>: Recipient address rejected: unverified address: unknown user: "nosuchuser"/);
    await sys.inst.waitForLog(/NOQUEUE: reject: RCPT from unknown\[127\.0\.0\.1\]: 450 4\.1\.1 <nosuchuser@mail\.example\.test>: Recipient address rejected: unverified address: unknown user: "nosuchuser"; from=<a@client\.example> to=<nosuchuser@mail\.example\.test>/);
  });

  test('a remote recipient: smtp(8) probes with MAIL and RCPT only; a 550 at RCPT makes it unverified', async () => {
    const good = await settled('ok@relay.test');
    assert.match(good, /<- {1,2}250 2\.1\.5 Ok/);
    const bad = await settled('gone@relay.test');
    assert.match(bad, /<\*\* +450 4\.1\.1 <gone@relay\.test>: Recipient address rejected: unverified address: host 127\.0\.0\.1\[127\.0\.0\.1\](:\d+)? said: 550 5\.1\.1 <gone@relay\.test>: Recipient address rejected: User unknown \(in reply to RCPT TO command\)/);
    assert.ok(backendSaw.includes('RCPT ok@relay.test') && backendSaw.includes('RCPT gone@relay.test'), backendSaw.join(' '));
    assert.ok(!backendSaw.includes('DATA'), 'a probe sends no DATA');
  });

  test('sendmail -bv still mails a report and delivers nothing', async () => {
    const child = spawn(process.execPath, [SENDMAIL, '-C', sys.inst.configDir, '-f', 'postmaster@mail.example.test', '-bv', 'root@mail.example.test'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const code = await new Promise<number | null>((r) => child.on('close', r));
    assert.equal(code, 0, stderr);
    await sys.inst.waitForLog(/to=<root@mail\.example\.test>, relay=local, .*status=deliverable \(delivers to mailbox\)/);
    const m = await sys.inst.waitForLog(/postfix\/bounce\[\d+\]: \w+: sender delivery status notification: (\w+)/);
    await sys.inst.waitForLog(new RegExp(`${m[1]}: to=<root@mail\\.example\\.test>, orig_to=<postmaster@mail\\.example\\.test>, relay=local, .*status=sent \\(delivered to mailbox\\)`));
    // the mailbox holds the report only: neither the -bv message nor any probe was delivered
    const msgs = parseMboxSettled(sys.mbox('root'));
    assert.equal(msgs.length, 1, sys.mbox('root'));
    assert.match(msgs[0]!.headers.get('subject')?.[0] ?? '', /Mail Delivery Status Report/);
  });
});
