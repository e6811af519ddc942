/**
 * The delivery agents through the real server: virtual(8) Maildirs, a pipe(8)
 * transport running a real script, .forward re-injection, a rebuilt alias
 * table, and ETRN flushing one destination.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import { freePort } from '../lib/instance.js';
import { LineClient } from '../lib/line-client.js';
import { parseMbox, parseMboxSettled } from '../lib/mbox.js';
import { startSystem, type MailSystem } from '../lib/system.js';

async function waitFor<T>(what: string, probe: () => T | undefined, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function send(sys: MailSystem, from: string, to: string[], raw: string): Promise<string> {
  const t = nodemailer.createTransport({ host: '127.0.0.1', port: sys.smtpPort, ignoreTLS: true });
  return t.sendMail({ envelope: { from, to }, raw }).then((i) => i.response.split(' ').pop()!);
}

/** A loopback SMTP sink that records the messages it receives. */
function sink(port: number): Promise<{ server: Server; messages: string[] }> {
  const messages: string[] = [];
  const server = createServer((s) => {
    let buf = '';
    let data = false;
    s.write('220 sink ESMTP\r\n');
    s.on('data', (d) => {
      buf += d.toString('latin1');
      for (;;) {
        if (data) {
          const end = buf.indexOf('\r\n.\r\n');
          if (end < 0) return;
          messages.push(buf.slice(0, end));
          buf = buf.slice(end + 5);
          data = false;
          s.write('250 2.0.0 Ok\r\n');
          continue;
        }
        const nl = buf.indexOf('\r\n');
        if (nl < 0) return;
        const cmd = buf.slice(0, 4).toUpperCase();
        buf = buf.slice(nl + 2);
        if (cmd === 'DATA') {
          data = true;
          s.write('354 go\r\n');
        } else if (cmd === 'QUIT') s.end('221 bye\r\n');
        else s.write('250 ok\r\n');
      }
    });
    s.on('error', () => undefined);
  });
  return new Promise((r) => server.listen(port, '127.0.0.1', () => r({ server, messages })));
}

describe('delivery agents through the real server', () => {
  let sys: MailSystem;
  let work: string;
  let etrnPort: number;

  before(async () => {
    etrnPort = await freePort();
    sys = await startSystem({
      aliases: 'postmaster: root\n',
      main: {
        virtual_mailbox_domains: 'virt.example',
        virtual_mailbox_maps: 'inline:{ anna@virt.example=virt.example/anna/ }',
        virtual_uid_maps: 'static:65534',
        virtual_gid_maps: 'static:65534',
        relay_domains: 'pipe.example, etrn.example',
        transport_maps: `inline:{ pipe.example=mypipe:, etrn.example=smtp:[127.0.0.1]:${etrnPort} }`,
        mypipe_destination_recipient_limit: '1',
        minimal_backoff_time: '300s',
        smtp_connect_timeout: '2s',
        smtpd_client_connection_count_limit: '2',
      },
      before: (inst) => {
        inst.writeMaster(`${readFileSync(join(inst.configDir, 'master.cf'), 'utf8')}mypipe unix - n n - - pipe flags=R user=nobody argv=/bin/sh ${join(inst.configDir, 'deliver.sh')} \${recipient}\n`);
        work = join(inst.dir, 'work');
        mkdirSync(work, { mode: 0o777 });
        chmodSync(work, 0o777);
        // the script: its exit status is the recipient's local part (sysexits)
        writeFileSync(
          join(inst.configDir, 'deliver.sh'),
          `#!/bin/sh\nrcpt="$1"\ncat > "${work}/$rcpt"\ncase "$rcpt" in ok@*) exit 0;; temp@*) echo "try later" >&2; exit 75;; *) echo "no such mailbox here" ; exit 64;; esac\n`,
        );
        // virtual(8) creates mailboxes as virtual_uid_maps' uid under a base that must exist
        mkdirSync(join(inst.dir, 'vmail'), { mode: 0o777 });
        chmodSync(join(inst.dir, 'vmail'), 0o777);
        return { virtual_mailbox_base: join(inst.dir, 'vmail') };
      },
    });
  });
  after(async () => {
    await sys.inst.dispose();
  });

  test('virtual(8) delivers to a Maildir under virtual_mailbox_base', async () => {
    const id = await send(sys, 'someone@example.org', ['anna@virt.example'], 'Subject: to anna\n\nhello anna\n');
    const dir = join(sys.inst.dir, 'vmail', 'virt.example', 'anna', 'new');
    const file = await waitFor('the Maildir file', () => (existsSync(dir) ? readdirSync(dir)[0] : undefined));
    const text = readFileSync(join(dir, file), 'utf8');
    assert.match(text, /^Delivered-To: anna@virt\.example$/m);
    assert.match(text, /^Return-Path: <someone@example\.org>$/m);
    await sys.inst.waitForLog(new RegExp(`${id}: to=<anna@virt\\.example>, relay=virtual, .*status=sent \\(delivered to maildir\\)`));
  });

  test('pipe(8) runs the command: exit 0 delivers, 75 defers, 64 bounces with its output', async () => {
    const id = await send(sys, 'root@localhost', ['ok@pipe.example', 'temp@pipe.example', 'fail@pipe.example'], 'Subject: piped\n\nthrough a pipe\n');
    await sys.inst.waitForLog(new RegExp(`${id}: to=<ok@pipe\\.example>, relay=mypipe, .*status=sent \\(delivered via mypipe service\\)`));
    await sys.inst.waitForLog(new RegExp(`${id}: to=<temp@pipe\\.example>, relay=mypipe, .*status=deferred \\(temporary failure.*try later`));
    await sys.inst.waitForLog(new RegExp(`${id}: to=<fail@pipe\\.example>, relay=mypipe, .*status=bounced \\(.*no such mailbox here`));
    assert.match(readFileSync(join(work, 'ok@pipe.example'), 'utf8'), /^Return-Path: <root@localhost>$/m, 'flag R adds Return-Path');
    // the bounce for fail@ reaches the sender (root) as a DSN
    await waitFor('the bounce notice', () =>
      existsSync(join(sys.mailDir, 'root')) && parseMboxSettled(sys.mbox('root')).some((m) => /fail@pipe\.example/.test(m.text) && /Undelivered Mail/.test(m.headers.get('subject')?.[0] ?? '')),
    );
  });

  test('a rebuilt alias table is used by the running system', async () => {
    writeFileSync(join(sys.inst.configDir, 'aliases'), 'postmaster: root\nnewname: root\n');
    const r = await sys.inst.postern(['newaliases']);
    assert.equal(r.code, 0, r.stderr);
    const id = await send(sys, 'someone@example.org', ['newname@localhost'], 'Subject: via new alias\n\nx\n');
    await sys.inst.waitForLog(new RegExp(`${id}: to=<root@mail\\.example\\.test>, orig_to=<newname@localhost>, relay=local, .*status=sent`));
    assert.ok(parseMbox(sys.mbox('root')).some((m) => m.headers.get('subject')?.[0] === 'via new alias'));
  });

  test('a client over smtpd_client_connection_count_limit is turned away (anvil)', async () => {
    // 127.0.0.2 is outside mynetworks, so smtpd_client_event_limit_exceptions does not exempt it
    const open: LineClient[] = [];
    try {
      for (let i = 0; i < 3; i++) {
        const c = await LineClient.open(sys.smtpPort, '127.0.0.1', '127.0.0.2');
        open.push(c);
        const greeting = await c.next();
        if (i < 2) assert.match(greeting, /^220 /);
        else assert.equal(greeting, '421 4.7.0 mail.example.test Error: too many connections from 127.0.0.2');
      }
      await sys.inst.waitForLog(/warning: Connection concurrency limit exceeded: 3 from unknown\[127\.0\.0\.2\] for service 127\.0\.0\.1:\d+/);
    } finally {
      for (const c of open) c.close();
    }
  });

  test('ETRN flushes the deferred mail of one destination', async () => {
    const id = await send(sys, 'someone@example.org', ['user@etrn.example'], 'Subject: wait for etrn\n\nx\n');
    await sys.inst.waitForLog(new RegExp(`${id}: to=<user@etrn\\.example>, relay=none, .*status=deferred`));
    const { server, messages } = await sink(etrnPort);
    try {
      const c = await LineClient.open(sys.smtpPort);
      await c.next();
      await c.ask('EHLO client.example');
      let line = await c.next();
      while (!line.startsWith('250 ')) line = await c.next();
      assert.equal(await c.ask('ETRN etrn.example'), '250 Queuing started');
      c.send('QUIT');
      await waitFor('the flushed message at the destination', () => messages.some((m) => /Subject: wait for etrn/.test(m)));
      await sys.inst.waitForLog(new RegExp(`${id}: to=<user@etrn\\.example>, relay=127\\.0\\.0\\.1\\[127\\.0\\.0\\.1\\]:${etrnPort}, .*status=sent`));
    } finally {
      server.close();
    }
  });
});
