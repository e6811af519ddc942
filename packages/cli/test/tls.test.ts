// postern tls (postfix tls, postfix-tls-script): keys and certificates made with openssl(1),
// main.cf settings as the script writes them, TLSA digests as openssl computes them, and a
// TLS handshake with the deployed pair.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:tls';
import { createServer } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseMainCf } from '@postern/core';

const SHIM = fileURLToPath(new URL('../../bin/postern.js', import.meta.url));
const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
function configDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'postern-tls-'));
  dirs.push(dir);
  writeFileSync(join(dir, 'main.cf'), `myhostname = mail.example.test\ndata_directory = ${dir}/data\n`);
  writeFileSync(join(dir, 'master.cf'), '');
  return dir;
}
const tls = (dir: string, ...args: string[]) => spawnSync(process.execPath, [SHIM, '-c', dir, 'tls', ...args], { encoding: 'utf8' });
const main = (dir: string) => Object.fromEntries([...parseMainCf(readFileSync(join(dir, 'main.cf'), 'utf8')).params].map(([k, v]) => [k, v.value]));
const spkiSha256 = (key: string) => {
  const der = spawnSync('openssl', ['pkey', '-in', key, '-pubout', '-outform', 'DER']);
  return spawnSync('openssl', ['dgst', '-sha256', '-r'], { input: der.stdout, encoding: 'utf8' }).stdout.split(' ')[0];
};

test('enable-server: a new key and self-signed certificate, deployed with opportunistic TLS; then nothing more', async () => {
  const dir = configDir();
  assert.equal(tls(dir, 'all-default-server').status, 0);
  const r = tls(dir, 'enable-server', 'mail.example.test', 'mx.example.test');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^Enabled opportunistic TLS in the Postfix SMTP server\nNew TLS private key and certificate deployed\./);
  const m = main(dir);
  assert.match(m['smtpd_tls_key_file']!, new RegExp(`^${dir}/key-\\d{8}-\\d{6}\\.pem$`));
  assert.match(m['smtpd_tls_cert_file']!, new RegExp(`^${dir}/cert-\\d{8}-\\d{6}\\.pem$`));
  assert.equal(m['smtpd_tls_security_level'], 'may');
  assert.equal(m['smtpd_tls_received_header'], 'yes');
  assert.equal(m['smtpd_tls_loglevel'], '1');
  assert.equal(statSync(m['smtpd_tls_key_file']!).mode & 0o777, 0o600, 'the private key is 0600');
  const text = spawnSync('openssl', ['x509', '-in', m['smtpd_tls_cert_file']!, '-noout', '-subject', '-ext', 'subjectAltName', '-enddate'], { encoding: 'utf8' }).stdout;
  assert.match(text, /CN ?= ?mail\.example\.test/);
  assert.match(text, /DNS:mail\.example\.test, DNS:mx\.example\.test/);
  assert.ok(Number(/notAfter=.* (\d{4}) GMT/.exec(text)?.[1]) > new Date().getFullYear() + 90, 'about 100 years');

  // the deployed pair serves a TLS handshake
  const server = createServer({ key: readFileSync(m['smtpd_tls_key_file']!), cert: readFileSync(m['smtpd_tls_cert_file']!) }, (s) => s.end('ok\n'));
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  const got = await new Promise<string>((res, rej) => {
    const c = connect({ port: (server.address() as { port: number }).port, host: '127.0.0.1', servername: 'mail.example.test', rejectUnauthorized: false }, () => {
      c.once('data', (d) => res(`${c.getPeerCertificate().subject.CN} ${d.toString().trim()}`));
    });
    c.once('error', rej);
  });
  server.close();
  assert.equal(got, 'mail.example.test ok');

  // the TLSA record is the SHA2-256 of the key's SubjectPublicKeyInfo, as openssl computes it
  const tlsa = tls(dir, 'output-server-tlsa', '-h', 'mx.example.test');
  assert.equal(tlsa.status, 0, tlsa.stderr);
  assert.equal(tlsa.stdout, `; ${m['smtpd_tls_key_file']}\n_25._tcp.mx.example.test. IN TLSA 3 1 1 ${spkiSha256(m['smtpd_tls_key_file']!)}\n`);

  assert.equal(tls(dir, 'all-default-server').status, 1);
  const again = tls(dir, 'enable-server');
  assert.equal(again.status, 0);
  assert.match(again.stdout, /^\*\*\* Non-default SMTP server TLS settings detected, no changes made\./);
  assert.deepEqual(main(dir), m, 'main.cf unchanged');
});

test('new-server-cert keeps the key, deploy-server-cert refuses a certificate of another key', () => {
  const dir = configDir();
  assert.equal(tls(dir, 'enable-server').status, 0);
  const deployed = main(dir);
  // a second later: new names (the stamp has seconds)
  spawnSync('sleep', ['1.1']);
  const r = tls(dir, 'new-server-cert');
  assert.equal(r.status, 0, r.stderr);
  const [, cert, key] = /deploy-server-cert (\S+) (\S+)/.exec(r.stdout) ?? [];
  assert.ok(cert && key, r.stdout);
  assert.equal(spkiSha256(key), spkiSha256(deployed['smtpd_tls_key_file']!), 'the same key, copied');
  assert.deepEqual(main(dir), deployed, 'not deployed yet');
  const csr = tls(dir, 'output-server-csr', '-k', key, 'a.example.test');
  assert.equal(csr.status, 0, csr.stderr);
  assert.match(spawnSync('openssl', ['req', '-noout', '-text'], { input: csr.stdout, encoding: 'utf8' }).stdout, /DNS:a\.example\.test/);

  spawnSync('sleep', ['1.1']);
  const other = tls(dir, 'new-server-key');
  assert.equal(other.status, 0, other.stderr);
  const [, otherCert] = /deploy-server-cert (\S+) (\S+)/.exec(other.stdout) ?? [];
  const bad = tls(dir, 'deploy-server-cert', otherCert!, key);
  assert.equal(bad.status, 1);
  assert.equal(bad.stderr, `postfix/postfix-tls-script: fatal: Certificate in ${otherCert} does not match key in ${key}\n`);
  const good = tls(dir, 'deploy-server-cert', cert.slice(dir.length + 1), key.slice(dir.length + 1));
  assert.equal(good.status, 0, good.stderr);
  assert.equal(main(dir)['smtpd_tls_cert_file'], cert, 'relative names are in the configuration directory');
  assert.equal(readdirSync(dir).filter((f) => f.endsWith('.pem')).length, 6);
});

test('enable-client, all-default-client and a bad command', () => {
  const dir = configDir();
  assert.equal(tls(dir, 'all-default-client').status, 0);
  const r = tls(dir, 'enable-client');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^Enabled opportunistic TLS in the Postfix SMTP client\./);
  const m = main(dir);
  assert.equal(m['smtp_tls_security_level'], 'may');
  assert.equal(m['smtp_tls_session_cache_database'], `lmdb:${dir}/data/smtp_scache`);
  assert.equal(tls(dir, 'all-default-client').status, 1);
  assert.match(tls(dir, 'enable-client').stdout, /^\*\*\* Non-default SMTP client TLS settings detected, no changes made\./);
  const bad = tls(dir, 'bogus');
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /^postfix\/postfix-tls-script: error: unknown tls command: 'bogus'\npostfix\/postfix-tls-script: fatal: usage: postfix tls enable-client /);
  assert.match(tls(dir, 'enable-server', '-a', 'ecdsa').stderr, /fatal: Unsupported private key algorithm: ecdsa/);
});
