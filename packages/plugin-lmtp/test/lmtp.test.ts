/**
 * lmtp(8) against smtp-server in LMTP mode (UNIX-domain socket and TCP)
 * with one reply per recipient, and against a real Dovecot LMTP server
 * (dovecot-lmtpd) started with a configuration of its own in a temp dir.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { plugin } from '../src/index.js';
import { smtpError, testClient, testResolver, testServer, local } from '@postern/testkit';

test('plugin manifest: command lmtp with lmtp_* parameters', () => {
  assert.ok(plugin.commands.lmtp);
  const p = new Map(plugin.parameters!.map((x) => [x.name, x.default]));
  assert.equal(p.get('lmtp_tcp_port'), '24');
  assert.equal(p.get('lmtp_connect_timeout'), '0s');
  assert.equal(p.get('lmtp_lhlo_name'), '$myhostname');
  assert.equal(p.get('lmtp_tls_secure_cert_match'), 'nexthop');
  assert.equal(p.has('lmtp_helo_name'), false);
});

const perRecipient = (r: { to: string[] }) =>
  r.to.map((a) => (a.startsWith('full') ? smtpError(452, '4.2.2 <' + a + '>: mailbox full') : a.startsWith('gone') ? smtpError(550, '5.1.1 <' + a + '>: no such user') : `2.0.0 <${a}> Saved`));

test('lmtp over a unix: socket: one reply per recipient after DATA, connection reuse', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'postern-lmtp-sock-'));
  const path = join(dir, 'lmtp.sock');
  const srv = await testServer({ lmtp: true, reply: perRecipient }, { path });
  const c = testClient('', testResolver({}, {}), 'lmtp');
  try {
    const { results } = await c.deliver({
      nexthop: `unix:${path}`,
      recipients: [
        { index: 0, address: 'alice@dest.test' },
        { index: 1, address: 'full@dest.test' },
        { index: 2, address: 'gone@dest.test' },
      ],
    });
    assert.deepEqual(results.map((r) => [r.status, r.dsn]), [['sent', '2.0.0'], ['deferred', '4.2.2'], ['bounced', '5.1.1']]);
    assert.equal(results[0]!.reason, '250 2.0.0 <alice@dest.test> Saved');
    assert.equal(results[0]!.relay, `client.test[${path}]`);
    assert.equal(results[2]!.reason, `host client.test[${path}] said: 550 5.1.1 <gone@dest.test>: no such user (in reply to end of DATA command)`);
    const again = await c.deliver({ nexthop: `unix:${path}` });
    assert.equal(again.results[0]!.status, 'sent');
    assert.equal((again.results[0] as { connUse?: number }).connUse, 2);
    assert.equal(srv.connections, 1);
  } finally {
    c.close();
    await srv.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('lmtp over inet:host:port and [host]:port; a refused RCPT is answered at once', async () => {
  const srv = await testServer({ lmtp: true, rcpt: (a) => (a.startsWith('nobody') ? smtpError(550, '5.1.1 <' + a + '>: unknown') : undefined) });
  const c = testClient('', testResolver({}, { 'lmtp.test': local(srv.port) }), 'lmtp');
  try {
    for (const nexthop of [`inet:lmtp.test:${srv.port}`, `[127.0.0.1]:${srv.port}`]) {
      const { results } = await c.deliver({ nexthop, recipients: [{ index: 0, address: 'a@dest.test' }, { index: 1, address: 'nobody@dest.test' }] });
      assert.deepEqual(results.map((r) => r.status), ['sent', 'bounced'], nexthop);
      assert.match(results[1]!.reason, /said: 550 5\.1\.1 <nobody@dest\.test>: unknown \(in reply to RCPT TO command\)$/);
    }
    assert.equal(srv.received.length, 2);
    assert.deepEqual(srv.received[0]!.to, ['a@dest.test']);
  } finally {
    c.close();
    await srv.close();
  }
});

const dovecot = '/usr/sbin/dovecot';

test('lmtp into a real Dovecot LMTP server: the message lands in the Maildir', { skip: existsSync(dovecot) ? false : `dovecot not installed (${dovecot}): install dovecot-lmtpd` }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'postern-dovecot-'));
  const port = await new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
  const me = userInfo();
  const group = execFileSync('id', ['-gn']).toString().trim();
  mkdirSync(join(dir, 'run'));
  mkdirSync(join(dir, 'mail'));
  const conf = join(dir, 'dovecot.conf');
  writeFileSync(
    conf,
    `base_dir = ${dir}/run
state_dir = ${dir}/state
log_path = ${dir}/dovecot.log
instance_name = postern-test-${port}
protocols = lmtp
listen = 127.0.0.1
ssl = no
default_internal_user = ${me.username}
default_internal_group = ${group}
default_login_user = ${me.username}
first_valid_uid = 1
first_valid_gid = 0
mail_location = maildir:${dir}/mail/%u
passdb {
  driver = passwd-file
  args = ${dir}/passwd
}
userdb {
  driver = passwd-file
  args = ${dir}/passwd
}
service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = ${port}
  }
  unix_listener lmtp {
    path = lmtp
    mode = 0666
  }
}
`,
  );
  // Dovecot refuses UID 0 for mail users: as root, deliver as nobody into a world-writable temp dir.
  let uid = me.uid;
  let gid = me.gid;
  if (uid === 0) {
    uid = Number(execFileSync('id', ['-u', 'nobody']).toString().trim());
    gid = Number(execFileSync('id', ['-g', 'nobody']).toString().trim());
    chmodSync(dir, 0o755);
    chmodSync(join(dir, 'mail'), 0o777);
  }
  writeFileSync(join(dir, 'passwd'), `alice:{PLAIN}x:${uid}:${gid}::${dir}/home/alice\n`);
  execFileSync(dovecot, ['-c', conf], { stdio: 'ignore' });
  const c = testClient('', testResolver({}, {}), 'lmtp');
  try {
    // Wait for the listeners (Dovecot forks its services in the background).
    for (let i = 0; i < 100 && !existsSync(join(dir, 'run', 'lmtp')); i++) await new Promise((r) => setTimeout(r, 50));
    const sock = await c.deliver(
      { nexthop: `unix:${join(dir, 'run', 'lmtp')}`, recipients: [{ index: 0, address: 'alice' }, { index: 1, address: 'nobody' }] },
      'From: sender@origin.test\nTo: alice\nSubject: via unix socket\n\nHello Dovecot.\n.leading dot\n',
    );
    assert.equal(sock.results[0]!.status, 'sent', JSON.stringify(sock.results));
    assert.match(sock.results[0]!.reason, /^250 2\.0\.0 <alice> \S+ Saved$/);
    assert.equal(sock.results[1]!.status, 'bounced');
    assert.match(sock.results[1]!.reason, /said: 550 5\.1\.1 <nobody> User doesn't exist: nobody \(in reply to RCPT TO command\)$/);
    const inet = await c.deliver({ nexthop: `inet:127.0.0.1:${port}`, recipients: [{ index: 0, address: 'alice' }] }, 'Subject: via tcp\n\nSecond.\n');
    assert.equal(inet.results[0]!.status, 'sent', JSON.stringify(inet.results));
    const newDir = join(dir, 'mail', 'alice', 'new');
    const files = readdirSync(newDir).map((f) => readFileSync(join(newDir, f), 'utf8'));
    assert.equal(files.length, 2);
    const first = files.find((f) => f.includes('via unix socket'))!;
    assert.match(first, /^Return-Path: <sender@origin\.test>\n/);
    assert.match(first, /\nHello Dovecot\.\n\.leading dot\n$/);
    assert.ok(files.some((f) => f.includes('Subject: via tcp')));
  } finally {
    c.close();
    try {
      const pid = Number(readFileSync(join(dir, 'run', 'master.pid'), 'utf8'));
      process.kill(pid, 'SIGTERM');
      for (let i = 0; i < 100; i++) {
        process.kill(pid, 0);
        await new Promise((r) => setTimeout(r, 50));
      }
    } catch {
      /* stopped */
    }
    rmSync(dir, { recursive: true, force: true });
  }
});
