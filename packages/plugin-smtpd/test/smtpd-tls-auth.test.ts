import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import nodemailer from 'nodemailer';
import { createTableRegistry } from '@postern/tables';
import { DovecotSasl, verifyPassword } from '../src/smtpd-sasl.js';
import { CaptureLog, RawClient, startRig } from './helpers.js';

let certDir: string;
let cert: string;
let key: string;

before(() => {
  certDir = mkdtempSync(join(tmpdir(), 'postern-smtpd-tls-'));
  cert = join(certDir, 'cert.pem');
  key = join(certDir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=mx.example.com'], {
    stdio: 'ignore',
  });
});
after(() => rmSync(certDir, { recursive: true, force: true }));

const submission = () => ({
  smtpd_tls_security_level: 'may',
  smtpd_tls_cert_file: cert,
  smtpd_tls_key_file: key,
  smtpd_sasl_auth_enable: 'yes',
  smtpd_tls_auth_only: 'yes',
  smtpd_sasl_type: 'postern-table',
  postern_sasl_password_maps: 'inline:{ alice=wonderland }',
  smtpd_relay_restrictions: 'permit_sasl_authenticated, reject_unauth_destination',
  mynetworks: '10.255.255.0/24',
  smtpd_sasl_authenticated_header: 'yes',
  smtpd_tls_received_header: 'yes',
});

/** Upgrades a RawClient's socket with STARTTLS and returns a client on the TLS socket. */
async function starttls(c: RawClient): Promise<RawClient> {
  assert.equal(await c.cmd('STARTTLS'), '220 2.0.0 Ready to start TLS');
  c.socket.removeAllListeners('data');
  const s = tlsConnect({ socket: c.socket, rejectUnauthorized: false, servername: 'mx.example.com' });
  await new Promise<void>((r) => s.once('secureConnect', () => r()));
  return new RawClient(s as never);
}

test('AUTH is not offered in clear text with smtpd_tls_auth_only; after STARTTLS PLAIN and LOGIN work', async () => {
  const rig = await startRig(submission(), { tables: createTableRegistry() });
  try {
    const c = await RawClient.open(rig.port);
    await c.reply();
    const ehlo = (await c.cmd('EHLO client.example'))!;
    assert.ok(ehlo.includes('250-STARTTLS'));
    assert.ok(!ehlo.includes('AUTH'));
    assert.equal(await c.cmd('AUTH PLAIN AGFsaWNlAHdvbmRlcmxhbmQ='), '504 5.5.4 Encryption required for requested authentication mechanism');
    const t = await starttls(c);
    const ehlo2 = (await t.cmd('EHLO client.example'))!;
    assert.ok(ehlo2.includes('250-AUTH PLAIN LOGIN'), ehlo2);
    assert.ok(!ehlo2.includes('STARTTLS'));
    assert.equal(await t.cmd(`AUTH PLAIN ${Buffer.from('\0alice\0wrong').toString('base64')}`), '535 5.7.8 Error: authentication failed: authentication failure');
    assert.equal(await t.cmd('AUTH LOGIN'), '334 VXNlcm5hbWU6');
    assert.equal(await t.cmd(Buffer.from('alice').toString('base64')), '334 UGFzc3dvcmQ6');
    assert.equal(await t.cmd(Buffer.from('wonderland').toString('base64')), '235 2.7.0 Authentication successful');
    assert.equal(await t.cmd('AUTH PLAIN'), '503 5.5.1 Error: already authenticated');
    assert.equal(await t.cmd('MAIL FROM:<alice@example.com>'), '250 2.1.0 Ok');
    assert.equal(await t.cmd('RCPT TO:<far@elsewhere.example>'), '250 2.1.5 Ok');
    await t.cmd('DATA');
    t.send('Subject: s\r\n\r\nx\r\n.\r\n');
    assert.match((await t.reply())!, /^250 2\.0\.0 Ok: queued as (\w+)$/);
    await t.cmd('QUIT');
    const sub = rig.cleanup.submitted[0]!;
    assert.deepEqual(sub.request.sasl, { method: 'LOGIN', username: 'alice' });
    assert.equal(sub.request.client?.protocol, 'ESMTPSA');
    const lines = sub.content.split('\n');
    assert.equal(lines[0], 'Received: from client.example (unknown [127.0.0.1])');
    assert.match(lines[1]!, /^\t\(using TLSv1\.[23] with cipher \S+ \(\d+\/\d+ bits\)\)$/);
    assert.equal(lines[2], '\t(No client certificate requested)');
    assert.equal(lines[3], '\t(Authenticated sender: alice)');
    assert.match(lines[4]!, /^\tby mx\.example\.com \(Postern\) with ESMTPSA id \w+$/);
    assert.ok(rig.log.lines.some((l) => /^\w+: client=unknown\[127\.0\.0\.1\], sasl_method=LOGIN, sasl_username=alice$/.test(l)));
    assert.ok(rig.log.lines.includes('warning: unknown[127.0.0.1]: SASL PLAIN authentication failed: authentication failure'));
  } finally {
    await rig.stop();
  }
});

test('nodemailer submits with STARTTLS + AUTH PLAIN; unauthenticated relay is refused', async () => {
  const rig = await startRig(submission(), { tables: createTableRegistry() });
  try {
    const tx = nodemailer.createTransport({
      host: '127.0.0.1',
      port: rig.port,
      secure: false,
      requireTLS: true,
      tls: { rejectUnauthorized: false },
      auth: { user: 'alice', pass: 'wonderland', method: 'PLAIN' },
    });
    const info = await tx.sendMail({ from: 'alice@example.com', to: 'far@elsewhere.example', subject: 'hello', text: 'body' });
    assert.match(info.response, /^250 2\.0\.0 Ok: queued as \w+$/);
    tx.close();
    const anon = nodemailer.createTransport({ host: '127.0.0.1', port: rig.port, secure: false, tls: { rejectUnauthorized: false } });
    await assert.rejects(anon.sendMail({ from: 'x@example.com', to: 'far@elsewhere.example', text: 'x' }), /554 5\.7\.1 <far@elsewhere\.example>: Relay access denied/);
    anon.close();
    assert.equal(rig.cleanup.submitted.length, 1);
  } finally {
    await rig.stop();
  }
});

test('smtps (smtpd_tls_wrappermode = yes): TLS from the first byte', async () => {
  const params = { ...submission(), smtpd_tls_security_level: 'encrypt' };
  const rig = await startRig(params, { overrides: { smtpd_tls_wrappermode: 'yes' }, tables: createTableRegistry() });
  try {
    const tx = nodemailer.createTransport({
      host: '127.0.0.1',
      port: rig.port,
      secure: true,
      tls: { rejectUnauthorized: false },
      auth: { user: 'alice', pass: 'wonderland' },
    });
    const info = await tx.sendMail({ from: 'alice@example.com', to: 'bob@example.com', subject: 'smtps', text: 'x' });
    assert.match(info.response, /^250 2\.0\.0 Ok: queued as/);
    tx.close();
    assert.match(rig.cleanup.submitted[0]!.content, /with ESMTPSA id/);
  } finally {
    await rig.stop();
  }
});

test('smtpd_tls_security_level = encrypt: 530 5.7.0 before STARTTLS', async () => {
  const rig = await startRig({ ...submission(), smtpd_tls_security_level: 'encrypt' }, { tables: createTableRegistry() });
  try {
    const c = await RawClient.open(rig.port);
    await c.reply();
    await c.cmd('EHLO client.example');
    assert.equal(await c.cmd('MAIL FROM:<a@example.com>'), '530 5.7.0 Must issue a STARTTLS command first');
    await c.cmd('QUIT');
  } finally {
    await rig.stop();
  }
});

test('password schemes of postern_sasl_password_maps', () => {
  const { createHash } = require_crypto();
  const sha = createHash('sha256').update('pw').digest('base64');
  const salt = Buffer.from('salt');
  const ssha = Buffer.concat([createHash('sha512').update('pw').update(salt).digest(), salt]).toString('base64');
  const cases: [string, string, boolean][] = [
    ['pw', 'pw', true],
    ['{PLAIN}pw', 'pw', true],
    ['{PLAIN}pw', 'px', false],
    [`{SHA256}${sha}`, 'pw', true],
    [`{SHA256}${sha}`, 'pW', false],
    [`{SSHA512}${ssha}`, 'pw', true],
    [`{SSHA512}${ssha}`, 'p', false],
    ['{MD5-CRYPT}$1$x', 'pw', false],
  ];
  for (const [stored, pw, want] of cases) assert.equal(verifyPassword(stored, pw), want, stored);
});

import * as cryptoModule from 'node:crypto';
function require_crypto() {
  return cryptoModule;
}

/** A Dovecot auth server speaking the real protocol, for the client side. */
function fakeDovecot(path: string, seen: string[]): Promise<Server> {
  const srv = createServer((s) => {
    s.setEncoding('utf8');
    s.write('VERSION\t1\t2\nMECH\tPLAIN\tplaintext\nMECH\tLOGIN\tplaintext\nMECH\tCRAM-MD5\tdictionary\nMECH\tPRIV\tprivate\nSPID\t1\nCUID\t1\nCOOKIE\tabc\nDONE\n');
    let buf = '';
    s.on('data', (d: string) => {
      buf += d;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).split('\t');
        buf = buf.slice(nl + 1);
        seen.push(line.join(' '));
        if (line[0] === 'AUTH') {
          const id = line[1];
          const resp = line.find((p) => p.startsWith('resp='));
          if (!resp) s.write(`CONT\t${id}\t\n`);
          else check(id!, resp.slice(5));
        } else if (line[0] === 'CONT') check(line[1]!, line[2] ?? '');
      }
      function check(id: string, b64: string) {
        const [, user, pw] = Buffer.from(b64, 'base64').toString().split('\0');
        if (user === 'dave' && pw === 'secret') s.write(`OK\t${id}\tuser=dave\n`);
        else s.write(`FAIL\t${id}\tuser=${user}\treason=Password mismatch\n`);
      }
    });
  });
  return new Promise((resolve) => srv.listen(path, () => resolve(srv)));
}

test('dovecot backend: mechanisms from MECH lines, AUTH/CONT exchange over smtpd_sasl_path', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'postern-dovecot-'));
  const seen: string[] = [];
  const srv = await fakeDovecot(join(dir, 'auth'), seen);
  const sasl = new DovecotSasl(join(dir, 'auth'), new CaptureLog());
  try {
    assert.deepEqual(await sasl.mechanisms({ noanonymous: true }), ['PLAIN', 'LOGIN', 'CRAM-MD5']);
    assert.deepEqual(await sasl.mechanisms({ noplaintext: true }), ['CRAM-MD5']);
    const client = { service: 'smtp', address: '192.0.2.1', localAddress: '192.0.2.2', port: 1234, localPort: 587, secured: true };
    const ok = await sasl.start({ mechanism: 'PLAIN', initialResponse: Buffer.from('\0dave\0secret').toString('base64'), client });
    assert.equal(ok.status, 'ok');
    assert.equal(ok.status === 'ok' && ok.username, 'dave');
    assert.match(seen.find((l) => l.startsWith('AUTH'))!, /^AUTH 1 PLAIN service=smtp nologin lip=192\.0\.2\.2 rip=192\.0\.2\.1 lport=587 rport=1234 secured resp=/);
    const cont = await sasl.start({ mechanism: 'PLAIN', client });
    assert.equal(cont.status, 'continue');
    const bad = await sasl.step(cont.id, Buffer.from('\0dave\0nope').toString('base64'));
    assert.deepEqual(bad, { status: 'fail', id: cont.id, reason: 'Password mismatch', temporary: false });
    assert.equal(seen[0], 'VERSION 1 2');
    assert.match(seen[1]!, /^CPID \d+$/);
  } finally {
    await sasl.close();
    srv.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('dovecot backend through smtpd: AUTH PLAIN with initial response', async () => {
  const seen: string[] = [];
  const rig0 = mkdtempSync(join(tmpdir(), 'postern-dovecot-'));
  const srv = await fakeDovecot(join(rig0, 'auth'), seen);
  const rig = await startRig({ smtpd_sasl_auth_enable: 'yes', smtpd_sasl_type: 'dovecot', smtpd_sasl_path: join(rig0, 'auth') });
  try {
    const c = await RawClient.open(rig.port);
    await c.reply();
    const ehlo = (await c.cmd('EHLO client.example'))!;
    assert.ok(ehlo.includes('250-AUTH PLAIN LOGIN CRAM-MD5'), ehlo);
    assert.equal(await c.cmd('AUTH PLAIN'), '334');
    assert.equal(await c.cmd(Buffer.from('\0dave\0secret').toString('base64')), '235 2.7.0 Authentication successful');
    await c.cmd('QUIT');
  } finally {
    await rig.stop();
    srv.close();
    rmSync(rig0, { recursive: true, force: true });
  }
});

test('a new smtpd reads replaced certificate files, one started before keeps its own (what postern reload relies on)', async () => {
  const make = (cn: string) => {
    const [c, k] = [join(certDir, `${cn}.crt`), join(certDir, `${cn}.key`)];
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', k, '-out', c, '-days', '2', '-subj', `/CN=${cn}`], { stdio: 'ignore' });
    return { c, k };
  };
  const one = make('one.example');
  const two = make('two.example');
  const [liveCert, liveKey] = [join(certDir, 'live.crt'), join(certDir, 'live.key')];
  copyFileSync(one.c, liveCert);
  copyFileSync(one.k, liveKey);
  const params = { smtpd_tls_security_level: 'may', smtpd_tls_cert_file: liveCert, smtpd_tls_key_file: liveKey };
  const fingerprint = async (port: number) => {
    const c = await RawClient.open(port);
    await c.reply();
    await c.cmd('EHLO client.example');
    const t = await starttls(c);
    const fp = (t.socket as import('node:tls').TLSSocket).getPeerCertificate().fingerprint256;
    t.socket.destroy();
    return fp;
  };
  const old = await startRig(params, { tables: createTableRegistry() });
  let fresh: Awaited<ReturnType<typeof startRig>> | undefined;
  try {
    const before = await fingerprint(old.port);
    copyFileSync(two.c, liveCert);
    copyFileSync(two.k, liveKey);
    fresh = await startRig(params, { tables: createTableRegistry() });
    assert.notEqual(await fingerprint(fresh.port), before);
    assert.equal(await fingerprint(old.port), before);
  } finally {
    await old.stop();
    await fresh?.stop();
  }
});
