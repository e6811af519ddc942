/**
 * The privilege model, as Postfix's: master runs as root; an unprivileged
 * service process reads main.cf, opens the tables its parameters name and
 * the queue while still root, then drops to mail_owner before it serves a
 * client. So the SASL_README recipe works (a root:root 0600 sasl_passwd,
 * hash: and lmdb: alike), a configuration directory that only root can enter
 * does not stop the services, and the processes that talk to clients really
 * run as mail_owner. Needs root and the postfix account (Debian's postfix
 * package): mail_owner is that real, unprivileged user.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import nodemailer from 'nodemailer';
import { SMTPServer } from 'smtp-server';
import { freePort, Instance, POSTERN_BIN } from '../lib/instance.js';
import { parseMboxSettled } from '../lib/mbox.js';
import { startSystem, type MailSystem } from '../lib/system.js';
import { waitFor } from '../lib/wait.js';

const pf = readFileSync('/etc/passwd', 'utf8').split('\n').map((l) => l.split(':')).find((f) => f[0] === 'postfix');
const skip = process.getuid?.() !== 0 ? 'needs root (master starts services as root, they drop to mail_owner)' : !pf ? 'no postfix account (Debian package postfix) to be mail_owner' : false;

/** The real, effective, saved and filesystem uids, gids and groups of a process (/proc/PID/status). */
function credentials(pid: number): { uid: number[]; gid: number[]; groups: number[] } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => (status.match(new RegExp(`^${name}:\\s*(.*)$`, 'm'))?.[1] ?? '').trim().split(/\s+/).filter(Boolean).map(Number);
  return { uid: field('Uid'), gid: field('Gid'), groups: field('Groups') };
}

/** The socket inode of the TCP connection 127.0.0.1:`local` <- 127.0.0.1:`remote` (/proc/net/tcp). */
function tcpInode(local: number, remote: number): string | undefined {
  const hex = (n: number) => n.toString(16).toUpperCase().padStart(4, '0');
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f[1]?.endsWith(`:${hex(local)}`) && f[2]?.endsWith(`:${hex(remote)}`)) return f[9];
  }
  return undefined;
}

/** The process, other than master, with a descriptor of that connection. */
function holderOf(local: number, remote: number, master: number): number | undefined {
  const inode = tcpInode(local, remote);
  if (!inode) return undefined;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === master) continue;
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${entry}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        if (readlinkSync(`/proc/${entry}/fd/${fd}`) === `socket:[${inode}]`) return Number(entry);
      } catch {
        /* closed meanwhile */
      }
    }
  }
  return undefined;
}

describe('privileges: services open tables and queue as root, then run as mail_owner', { skip, timeout: 120_000 }, () => {
  let sys: MailSystem;
  let relay: SMTPServer;
  const relayed: { user: string | undefined; from: string; to: string[]; body: string; clientCert: string | undefined }[] = [];
  /** The CN of the certificate smtp presented at each STARTTLS to the relayhost. */
  const clientCerts = new Map<string, string | undefined>();
  const uid = Number(pf?.[2]);
  const gid = Number(pf?.[3]);

  before(async () => {
    const relayPort = await freePort();
    const relayTls = mkdtempSync(join(tmpdir(), 'postern-relay-tls-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(relayTls, 'key.pem'), '-out', join(relayTls, 'cert.pem'), '-days', '2', '-subj', '/CN=relay.example.test'], { stdio: 'ignore' });
    const [relayKey, relayCert] = ['key.pem', 'cert.pem'].map((f) => readFileSync(join(relayTls, f)));
    rmSync(relayTls, { recursive: true, force: true });
    relay = new SMTPServer({
      authMethods: ['PLAIN', 'LOGIN'],
      allowInsecureAuth: true,
      key: relayKey,
      cert: relayCert,
      // ask for the client's certificate (smtp_tls_cert_file), never require it
      requestCert: true,
      rejectUnauthorized: false,
      onSecure(socket, session, callback) {
        const cn = (socket as TLSSocket).getPeerCertificate().subject?.CN;
        clientCerts.set(session.id, typeof cn === 'string' ? cn : undefined);
        callback();
      },
      logger: false,
      onAuth(auth, _session, callback) {
        if (auth.username === 'relayuser' && auth.password === 's3cret pass') callback(null, { user: auth.username });
        else callback(Object.assign(new Error('5.7.8 authentication failed'), { responseCode: 535 }));
      },
      onData(stream, session, callback) {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          relayed.push({
            user: session.user as string | undefined,
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            to: session.envelope.rcptTo.map((r) => r.address),
            body: Buffer.concat(chunks).toString('utf8'),
            clientCert: clientCerts.get(session.id),
          });
          callback();
        });
      },
    });
    await new Promise<void>((resolve) => relay.listen(relayPort, '127.0.0.1', resolve));
    sys = await startSystem({
      main: { mail_owner: 'postfix' },
      before: (inst) => {
        // SASL_README: root-only credentials, built with postmap as root
        const file = join(inst.configDir, 'sasl_passwd');
        writeFileSync(file, `[127.0.0.1]:${relayPort} relayuser:s3cret pass\n`);
        execFileSync(process.execPath, [POSTERN_BIN, 'map', '-c', inst.configDir, `hash:${file}`]);
        for (const f of [file, `${file}.lmdb`]) {
          chownSync(f, 0, 0);
          chmodSync(f, 0o600);
        }
        // smtpd's TLS private key, root's alone (Postfix reads it before the drop too)
        const key = join(inst.configDir, 'key.pem');
        const cert = join(inst.configDir, 'cert.pem');
        execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=mail.example.test'], { stdio: 'ignore' });
        chmodSync(key, 0o600);
        // smtp's client certificate and key, root's alone as well (Postfix's smtp reads them in pre_init)
        const clientKey = join(inst.configDir, 'client-key.pem');
        const clientCert = join(inst.configDir, 'client-cert.pem');
        execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', clientKey, '-out', clientCert, '-days', '2', '-subj', '/CN=client.example.test'], { stdio: 'ignore' });
        for (const f of [clientKey, clientCert]) chmodSync(f, 0o600);
        // a configuration directory nobody but root may enter
        chmodSync(inst.configDir, 0o700);
        return {
          smtpd_tls_cert_file: cert,
          smtpd_tls_key_file: key,
          smtpd_tls_security_level: 'may',
          relayhost: `[127.0.0.1]:${relayPort}`,
          smtp_tls_security_level: 'encrypt',
          smtp_tls_cert_file: clientCert,
          smtp_tls_key_file: clientKey,
          smtp_sasl_auth_enable: 'yes',
          smtp_sasl_password_maps: `hash:${file}`,
          smtp_sasl_security_options: 'noanonymous',
        };
      },
    });
  });

  after(async () => {
    await sys?.inst.dispose();
    await new Promise<void>((resolve) => (relay ? relay.close(() => resolve()) : resolve()));
  });

  test('a root:root 0600 sasl_passwd (hash:) and smtp client key in a 0700 directory: mail is relayed over TLS with the certificate and AUTH', async () => {
    const st = statSync(join(sys.inst.configDir, 'sasl_passwd.lmdb'));
    assert.equal(st.uid, 0);
    assert.equal(st.mode & 0o777, 0o600);
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: sys.smtpPort, ignoreTLS: true });
    await transport.sendMail({
      envelope: { from: 'sender@example.test', to: ['someone@remote.test'] },
      raw: 'From: sender@example.test\r\nTo: someone@remote.test\r\nSubject: relayed with auth\r\n\r\nthrough the relayhost\r\n',
    });
    transport.close();
    const msg = await waitFor('the message at the relayhost', () => relayed.find((m) => m.to.includes('someone@remote.test')));
    assert.equal(msg.user, 'relayuser');
    assert.equal(msg.clientCert, 'client.example.test', 'smtp presented smtp_tls_cert_file, read before the privilege drop');
    assert.equal(msg.from, 'sender@example.test');
    assert.match(msg.body, /Subject: relayed with auth/);
    const sent = await sys.inst.waitForLog(/\w+\/smtp\[(\d+)\]: \w+: to=<someone@remote\.test>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:\d+,.* status=sent/);
    assert.doesNotMatch(sys.inst.log, /Permission denied|EACCES/);
    // the smtp process that read the root-only table runs as mail_owner
    const pid = Number(sent[1]);
    if (existsSync(`/proc/${pid}`)) {
      const c = credentials(pid);
      assert.deepEqual(c.uid, [uid, uid, uid, uid]);
      assert.deepEqual(c.gid, [gid, gid, gid, gid]);
    }
  });

  test('a 0700 root configuration directory: services start, mail is accepted and delivered locally', async () => {
    assert.equal(statSync(sys.inst.configDir).mode & 0o777, 0o700);
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: sys.smtpPort, ignoreTLS: true });
    await transport.sendMail({
      envelope: { from: 'sender@example.test', to: ['root@localhost'] },
      raw: 'From: sender@example.test\r\nTo: root@localhost\r\nSubject: local under a closed config dir\r\n\r\nhello\r\n',
    });
    transport.close();
    const mbox = join(sys.mailDir, 'root');
    const got = await waitFor('local delivery to root', () => {
      if (!existsSync(mbox)) return undefined;
      return parseMboxSettled(readFileSync(mbox, 'utf8')).find((m) => /Subject: local under a closed config dir/.test(m.text));
    });
    assert.ok(got);
    assert.doesNotMatch(sys.inst.log, /cannot read|bad command startup/);
  });

  test('smtpd reads a root-only TLS key before the drop: STARTTLS works', async () => {
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: sys.smtpPort, requireTLS: true, tls: { rejectUnauthorized: false } });
    await transport.sendMail({
      envelope: { from: 'sender@example.test', to: ['root@localhost'] },
      raw: 'From: sender@example.test\r\nTo: root@localhost\r\nSubject: over starttls\r\n\r\nhello\r\n',
    });
    transport.close();
    assert.doesNotMatch(sys.inst.log, /cannot load TLS certificate or key/);
  });

  test('the smtpd process that holds a client connection runs as mail_owner, with no other groups', async () => {
    const socket = connect(sys.smtpPort, '127.0.0.1');
    try {
      const greeting = await new Promise<string>((resolve, reject) => {
        socket.once('data', (d) => resolve(d.toString()));
        socket.once('error', reject);
      });
      assert.match(greeting, /^220 /);
      const pid = await waitFor('the process holding the connection', () => holderOf(sys.smtpPort, socket.localPort!, sys.inst.pid!));
      assert.match(readFileSync(`/proc/${pid}/cmdline`, 'utf8'), /smtpd/);
      const c = credentials(pid);
      assert.deepEqual(c.uid, [uid, uid, uid, uid], `smtpd pid ${pid} Uid`);
      assert.deepEqual(c.gid, [gid, gid, gid, gid], `smtpd pid ${pid} Gid`);
      assert.deepEqual(c.groups, [gid], `smtpd pid ${pid} Groups`);
      // and it was started by master, which still runs as root
      assert.deepEqual(credentials(sys.inst.pid!).uid, [0, 0, 0, 0]);
    } finally {
      socket.destroy();
    }
  });
});

test('a queue under a directory mail_owner cannot search: postern check and postern start fail and say why', { skip, timeout: 60_000 }, async () => {
  const port = await freePort();
  const inst = new Instance({ main: { mail_owner: 'postfix' }, master: `127.0.0.1:${port} inet n - n - - smtpd\n` });
  try {
    const locked = join(inst.dir, 'locked');
    mkdirSync(locked, { mode: 0o700 });
    chmodSync(locked, 0o700);
    const queue = join(locked, 'spool');
    inst.writeMain({ mail_owner: 'postfix', queue_directory: queue });
    const why = new RegExp(`fatal: queue_directory ${queue}: mail_owner postfix cannot search directory ${locked} \\(mode 0700, owner root:root\\)`);
    const check = await inst.postern(['check']);
    assert.equal(check.code, 1, check.stderr);
    assert.match(check.stderr, why);
    const start = await inst.postern(['start']);
    assert.equal(start.code, 1, start.stderr);
    assert.match(start.stderr, why);
    assert.doesNotMatch(start.stderr, /running/);
    assert.equal(existsSync(join(queue, 'pid', 'master.pid')), false);
    // once mail_owner may pass, both succeed
    chmodSync(locked, 0o711);
    const fixed = await inst.postern(['check']);
    assert.equal(fixed.code, 0, fixed.stderr);
  } finally {
    await inst.dispose();
  }
});
