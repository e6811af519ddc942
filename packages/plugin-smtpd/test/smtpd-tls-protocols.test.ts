/**
 * smtpd_tls_protocols, smtpd_tls_mandatory_protocols, smtpd_tls_ciphers and
 * smtpd_tls_exclude_ciphers on a real STARTTLS handshake: a client outside
 * the protocol range or offering only an excluded cipher fails it, one inside
 * succeeds.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { RawClient, startRig } from './helpers.js';

let certDir: string;
let cert: string;
let key: string;

before(() => {
  certDir = mkdtempSync(join(tmpdir(), 'postern-smtpd-tlsprot-'));
  cert = join(certDir, 'cert.pem');
  key = join(certDir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=mx.example.com'], {
    stdio: 'ignore',
  });
});
after(() => rmSync(certDir, { recursive: true, force: true }));

const tlsParams = (extra: Record<string, string>) => ({ smtpd_tls_security_level: 'may', smtpd_tls_cert_file: cert, smtpd_tls_key_file: key, ...extra });

/** STARTTLS with the given client options: the negotiated protocol and cipher, or the handshake error. */
async function handshake(port: number, options: ConnectionOptions): Promise<{ protocol: string; cipher: string } | { error: string }> {
  const c = await RawClient.open(port);
  try {
    await c.reply();
    await c.cmd('EHLO client.example');
    assert.equal(await c.cmd('STARTTLS'), '220 2.0.0 Ready to start TLS');
    c.socket.removeAllListeners('data');
    const s = tlsConnect({ socket: c.socket, rejectUnauthorized: false, servername: 'mx.example.com', ...options });
    return await new Promise((resolve) => {
      s.once('secureConnect', () => {
        resolve({ protocol: s.getProtocol() ?? '', cipher: s.getCipher().name });
        s.destroy();
      });
      s.once('error', (err) => resolve({ error: err.message }));
    });
  } finally {
    c.socket.destroy();
  }
}

test('smtpd_tls_protocols = >=TLSv1.3: a TLSv1.2-only client fails the handshake, a TLSv1.3 client succeeds', async () => {
  const rig = await startRig(tlsParams({ smtpd_tls_protocols: '>=TLSv1.3' }));
  try {
    const old = await handshake(rig.port, { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' });
    assert.ok('error' in old, JSON.stringify(old));
    const now = await handshake(rig.port, { minVersion: 'TLSv1.3' });
    assert.deepEqual('protocol' in now && now.protocol, 'TLSv1.3', JSON.stringify(now));
  } finally {
    await rig.stop();
  }
});

test('smtpd_tls_protocols applies to opportunistic TLS only: with encrypt, smtpd_tls_mandatory_protocols rules', async () => {
  const rig = await startRig(tlsParams({ smtpd_tls_security_level: 'encrypt', smtpd_tls_protocols: '>=TLSv1.3', smtpd_tls_mandatory_protocols: '<=TLSv1.2' }));
  try {
    const tls12 = await handshake(rig.port, { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' });
    assert.deepEqual('protocol' in tls12 && tls12.protocol, 'TLSv1.2', JSON.stringify(tls12));
    const tls13 = await handshake(rig.port, { minVersion: 'TLSv1.3' });
    assert.ok('error' in tls13, JSON.stringify(tls13));
  } finally {
    await rig.stop();
  }
});

test('smtpd_tls_ciphers = high minus smtpd_tls_exclude_ciphers: a TLSv1.2 client offering only the excluded cipher fails', async () => {
  const excluded = 'ECDHE-RSA-AES128-GCM-SHA256';
  const rig = await startRig(tlsParams({ smtpd_tls_ciphers: 'high', smtpd_tls_exclude_ciphers: excluded }));
  try {
    const bad = await handshake(rig.port, { maxVersion: 'TLSv1.2', ciphers: excluded });
    assert.ok('error' in bad, JSON.stringify(bad));
    const good = await handshake(rig.port, { maxVersion: 'TLSv1.2', ciphers: 'ECDHE-RSA-AES256-GCM-SHA384' });
    assert.deepEqual(good, { protocol: 'TLSv1.2', cipher: 'ECDHE-RSA-AES256-GCM-SHA384' });
  } finally {
    await rig.stop();
  }
});

test('a protocol list with a hole is narrowed to the range above it, with a warning; an unknown protocol turns TLS off', async () => {
  const rig = await startRig(tlsParams({ smtpd_tls_protocols: '!TLSv1.2' }));
  try {
    assert.ok(rig.log.lines.some((l) => l === 'warning: smtpd_tls_protocols: TLS protocol list "!TLSv1.2" is not one contiguous range, which is all Node.js can enable: using TLSv1.3 only'), rig.log.lines.join('\n'));
    const tls12 = await handshake(rig.port, { maxVersion: 'TLSv1.2' });
    assert.ok('error' in tls12, JSON.stringify(tls12));
  } finally {
    await rig.stop();
  }
  const off = await startRig(tlsParams({ smtpd_tls_protocols: 'TLSv9' }));
  try {
    assert.ok(off.log.lines.includes('warning: smtpd_tls_protocols: Invalid TLS protocol list "TLSv9": unknown protocol "TLSv9": disabling TLS support'), off.log.lines.join('\n'));
    const c = await RawClient.open(off.port);
    await c.reply();
    assert.ok(!(await c.cmd('EHLO client.example'))!.includes('STARTTLS'));
    c.socket.destroy();
  } finally {
    await off.stop();
  }
});
