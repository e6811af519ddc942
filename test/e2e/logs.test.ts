/**
 * The maillog as Postfix's log tools read it: syslog_name defaults to
 * "postfix" (so pflogsumm, fail2ban and logwatch work as installed), and a
 * process that dies at start logs its fatal line under its own name and pid.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import { FIXTURES, freePort, Instance } from '../lib/instance.js';
import { startSystem, type MailSystem } from '../lib/system.js';

const PFLOGSUMM = ['/usr/sbin/pflogsumm', '/usr/bin/pflogsumm'].find((p) => existsSync(p));

describe('log tools', () => {
  let sys: MailSystem | undefined;
  after(async () => {
    await sys?.inst.dispose();
  });

  test('pflogsumm reads a Postern maillog as installed: received, delivered and rejected counted', { skip: !PFLOGSUMM && 'pflogsumm is not installed (Debian package pflogsumm)' }, async () => {
    sys = await startSystem({ aliases: 'postmaster: root\nalice: root\n' });
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: sys.smtpPort, ignoreTLS: true });
    for (let i = 0; i < 3; i++) {
      await transport.sendMail({ envelope: { from: 'sender@example.org', to: ['alice@localhost'] }, raw: `Subject: pflogsumm ${i}\n\nbody ${i}\n` });
    }
    // a relay attempt from outside mynetworks: "NOQUEUE: reject: RCPT ... 454 4.7.1 ... Relay access denied"
    const outside = nodemailer.createTransport({ host: '127.0.0.1', port: sys.smtpPort, ignoreTLS: true, localAddress: '127.0.0.2' });
    await assert.rejects(outside.sendMail({ envelope: { from: 'sender@example.org', to: ['x@elsewhere.example'] }, raw: 'Subject: relay\n\nx\n' }), /454 4\.7\.1/);
    transport.close();
    outside.close();
    const deadline = Date.now() + 20_000;
    // the rejecting smtpd writes its line on its own: wait for it too
    while ((sys.inst.log.match(/status=sent \(delivered to mailbox\)/g) ?? []).length < 3 || (sys.inst.log.match(/: removed/g) ?? []).length < 3 || !/NOQUEUE: reject: RCPT/.test(sys.inst.log)) {
      if (Date.now() > deadline) throw new Error(`deliveries not logged:\n${sys.inst.log}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.match(sys.inst.log, /^\w{3} [ \d]\d \d\d:\d\d:\d\d \S+ postfix\/smtpd\[\d+\]: connect from /m, 'syslog_name defaults to postfix');
    const file = join(sys.inst.dir, 'maillog.copy');
    writeFileSync(file, sys.inst.log);
    const report = execFileSync(PFLOGSUMM!, [file], { encoding: 'utf8' });
    const count = (what: string) => Number(new RegExp(`^\\s*(\\d+)\\s+${what}\\b`, 'm').exec(report)?.[1] ?? NaN);
    assert.equal(count('received'), 3, report);
    assert.equal(count('delivered'), 3, report);
    assert.equal(count('rejected'), 1, report);
  });

  test("a service that dies at start logs its fatal line under its own name and pid, not master's", async () => {
    const port = await freePort();
    const inst = new Instance({
      main: { daemon_directory: join(FIXTURES, 'plugins'), testsvc_greeting: 'no way', service_throttle_time: '60s' },
      master: `127.0.0.1:${port} inet n - n - - failstart\n`,
    });
    try {
      const masterPid = await inst.start();
      const { createConnection } = await import('node:net');
      const c = createConnection({ port, host: '127.0.0.1' });
      c.on('error', () => undefined);
      const [, pid] = (await inst.waitForLog(/postfix\/failstart\[(\d+)\]: fatal: cannot start: no way/))!;
      c.destroy();
      assert.notEqual(Number(pid), masterPid);
      await inst.waitForLog(new RegExp(`postfix/master\\[${masterPid}\\]: warning: process \\S+ pid ${pid} exit status 1`));
      assert.doesNotMatch(inst.log, /postfix\/master\[\d+\]: fatal: cannot start/);
    } finally {
      await inst.dispose();
    }
  });
});
