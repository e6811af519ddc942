/**
 * smtp(8) TLS levels and SASL against smtp-server with certificates made by
 * openssl: may, encrypt, verify (good and wrong CA), secure with match=,
 * the policy table, and SASL PLAIN/LOGIN with the refusal to send a password
 * in clear.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import type { TLSSocket } from 'node:tls';
import { local, makePki, testClient, testResolver, testServer, writeFile, type TestServer } from '@postern/testkit';

const pki = makePki();
const mxCert = pki.cert('mx.dest.test');
after(() => rmSync(pki.dir, { recursive: true, force: true }));

async function tlsServer(extra: Record<string, unknown> = {}): Promise<TestServer> {
  return testServer({ key: readFileSync(mxCert.key), cert: readFileSync(mxCert.cert), ...extra });
}

const resolverFor = (srv: TestServer) =>
  testResolver({ 'dest.test': [{ exchange: 'mx.dest.test', preference: 10 }], 'other.test': [{ exchange: 'mx.dest.test', preference: 10 }] }, {
    'mx.dest.test': local(srv.port),
    'plain.test': local(srv.port),
  });

const cases: { name: string; maincf: string; nexthop?: string; status: string; log?: RegExp; reason?: RegExp; secure?: boolean }[] = [
  { name: 'none: no STARTTLS', maincf: 'smtp_tls_security_level = none', status: 'sent', secure: false },
  { name: 'may without a CA: Untrusted', maincf: 'smtp_tls_security_level = may', status: 'sent', secure: true, log: /^Untrusted TLS connection established to mx\.dest\.test\[127\.0\.0\.1\]:\d+: TLSv1\.3 with cipher \S+ \(\d+\/\d+ bits\)$/ },
  { name: 'may with the CA: Trusted', maincf: `smtp_tls_security_level = may\nsmtp_tls_CAfile = ${pki.caCert}`, status: 'sent', secure: true, log: /^Trusted TLS connection established to mx\.dest\.test/ },
  { name: 'encrypt', maincf: 'smtp_tls_security_level = encrypt', status: 'sent', secure: true, log: /^Untrusted TLS connection/ },
  { name: 'verify with the right CA: Verified', maincf: `smtp_tls_security_level = verify\nsmtp_tls_CAfile = ${pki.caCert}`, status: 'sent', secure: true, log: /^Verified TLS connection established to mx\.dest\.test\[127\.0\.0\.1\]:\d+: TLSv1\.3/ },
  { name: 'verify with a wrong CA: deferred', maincf: `smtp_tls_security_level = verify\nsmtp_tls_CAfile = ${pki.otherCaCert}`, status: 'deferred', reason: /^Server certificate not verified$/ },
  { name: 'secure: dot-nexthop matches a subdomain certificate', maincf: `smtp_tls_security_level = secure\nsmtp_tls_CAfile = ${pki.caCert}`, status: 'sent', secure: true, log: /^Verified TLS/ },
  { name: 'secure: a next-hop the certificate does not name is deferred', maincf: `smtp_tls_security_level = secure\nsmtp_tls_CAfile = ${pki.caCert}`, nexthop: 'other.test', status: 'deferred', reason: /^Server certificate not verified$/ },
  { name: 'secure with match=.dest.test', maincf: `smtp_tls_security_level = none\nsmtp_tls_CAfile = ${pki.caCert}\nsmtp_tls_policy_maps = texthash:$DIR/policy`, status: 'sent', secure: true, log: /^Verified TLS/ },
  { name: 'policy table: [host] entry encrypt over a plaintext-only server fails', maincf: `smtp_tls_policy_maps = texthash:$DIR/policy`, nexthop: '[plain.test]', status: 'deferred', reason: /^TLS is required, but was not offered by host plain\.test\[127\.0\.0\.1\]$/ },
];

for (const c of cases) {
  test(`TLS ${c.name}`, async () => {
    const plainOnly = c.nexthop === '[plain.test]';
    const srv = plainOnly ? await testServer({ disabledCommands: ['STARTTLS'] }) : await tlsServer();
    const client = testClient(c.maincf, resolverFor(srv));
    writeFile(client.dir, 'policy', 'dest.test secure match=.dest.test\n[plain.test] encrypt\n');
    try {
      const { results } = await client.deliver({ nexthop: c.nexthop ?? 'dest.test' });
      assert.equal(results[0]!.status, c.status, JSON.stringify(results[0]));
      if (c.reason) assert.match(results[0]!.reason, c.reason);
      if (c.secure !== undefined) assert.equal(srv.received[0]!.secure, c.secure);
      if (c.log) assert.ok(client.log.lines.some((l) => c.log!.test(l)), client.log.lines.join('\n'));
      if (c.status !== 'sent') assert.equal(srv.received.length, 0);
    } finally {
      client.close();
      await srv.close();
    }
  });
}

test('TLS may: a failing handshake is retried in plaintext', async () => {
  // The server offers STARTTLS but only TLSv1.2, the client wants TLSv1.3 only.
  const srv = await tlsServer({ minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' });
  const client = testClient('smtp_tls_security_level = may\nsmtp_tls_protocols = >=TLSv1.3', resolverFor(srv));
  try {
    const { results } = await client.deliver({});
    assert.equal(results[0]!.status, 'sent', JSON.stringify(results[0]));
    assert.equal(srv.received[0]!.secure, false);
    assert.equal(srv.connections, 2);
    assert.ok(client.log.lines.some((l) => /Cannot start TLS: handshake failure; retrying without TLS/.test(l)), client.log.lines.join('\n'));
  } finally {
    client.close();
    await srv.close();
  }
});

test('TLS ciphers: smtp_tls_mandatory_exclude_ciphers removes the only cipher a TLSv1.2 server has from encrypt, not from may', async () => {
  const only = 'ECDHE-RSA-AES128-GCM-SHA256';
  const srv = await tlsServer({ maxVersion: 'TLSv1.2', ciphers: only });
  const exclude = `smtp_tls_mandatory_ciphers = high\nsmtp_tls_mandatory_exclude_ciphers = ${only}`;
  const encrypt = testClient(`smtp_tls_security_level = encrypt\n${exclude}`, resolverFor(srv));
  const may = testClient(`smtp_tls_security_level = may\n${exclude}`, resolverFor(srv));
  try {
    const failed = await encrypt.deliver({});
    assert.equal(failed.results[0]!.status, 'deferred', JSON.stringify(failed.results[0]));
    assert.match(failed.results[0]!.reason, /handshake failure|no shared cipher|Cannot start TLS/i);
    assert.equal(srv.received.length, 0);
    const sent = await may.deliver({});
    assert.equal(sent.results[0]!.status, 'sent', JSON.stringify(sent.results[0]));
    assert.equal(srv.received[0]!.secure, true);
    assert.ok(may.log.lines.some((l) => l.includes(`TLSv1.2 with cipher ${only}`)), may.log.lines.join('\n'));
  } finally {
    encrypt.close();
    may.close();
    await srv.close();
  }
});

test('TLS session resumption: the next connection to the server resumes the session the first one saved', async () => {
  const resumed: boolean[] = [];
  const srv = await tlsServer({
    onSecure(socket: TLSSocket, _session: unknown, cb: () => void) {
      resumed.push(socket.isSessionReused());
      cb();
    },
  });
  // smtp_tls_connection_reuse = no (the default): each delivery makes a new TLS connection
  const client = testClient('smtp_tls_security_level = encrypt', resolverFor(srv));
  try {
    for (let i = 0; i < 3; i++) {
      const { results } = await client.deliver({});
      assert.equal(results[0]!.status, 'sent', JSON.stringify(results[0]));
      // a TLS 1.3 ticket arrives after the handshake: give it a moment before the next delivery
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(srv.connections, 3);
    assert.deepEqual(resumed, [false, true, true]);
  } finally {
    client.close();
    await srv.close();
  }
});

const auth = (user: string) => ({
  onAuth(
    a: { username?: string; password?: string; method: string; validatePassword?: (p: string) => boolean },
    _s: unknown,
    cb: (err: Error | null, res?: { user: string }) => void,
  ) {
    // CRAM-MD5 sends no password, only a digest of it and the challenge
    const ok = a.method === 'CRAM-MD5' ? a.validatePassword?.('s3cret') === true : a.password === 's3cret';
    if (a.username === 'alice' && ok) cb(null, { user: `${a.username}/${a.method}` });
    else cb(Object.assign(new Error('5.7.8 Error: authentication failed'), { responseCode: 535 }));
  },
  authOptional: false,
  user,
});

for (const method of ['PLAIN', 'LOGIN', 'CRAM-MD5']) {
  test(`SASL ${method} over TLS with smtp_sasl_password_maps keyed by [host]:port`, async () => {
    const srv = await tlsServer({ ...auth('alice'), authMethods: [method] });
    const client = testClient(
      `smtp_tls_security_level = encrypt\nsmtp_sasl_auth_enable = yes\nsmtp_sasl_password_maps = texthash:$DIR/passwd\nsmtp_sasl_tls_security_options = noanonymous`,
      resolverFor(srv),
    );
    writeFile(client.dir, 'passwd', `[mx.dest.test]:${srv.port} alice:s3cret\n`);
    try {
      const { results } = await client.deliver({ nexthop: `[mx.dest.test]:${srv.port}` });
      assert.equal(results[0]!.status, 'sent', JSON.stringify(results[0]));
      assert.equal(srv.received[0]!.user, `alice/${method}`);
    } finally {
      client.close();
      await srv.close();
    }
  });
}

test('SASL: wrong password is deferred with the server reply; no plaintext password without TLS', async () => {
  const srv = await tlsServer({ ...auth('alice'), authMethods: ['PLAIN', 'LOGIN'], allowInsecureAuth: true, hideSTARTTLS: true });
  const logged: string[] = [];
  const wrong = testClient(`smtp_sasl_auth_enable = yes\nsmtp_sasl_password_maps = texthash:$DIR/passwd\nsmtp_sasl_security_options = noanonymous`, resolverFor(srv));
  writeFile(wrong.dir, 'passwd', 'mx.dest.test alice:wrong\n');
  const clear = testClient(`smtp_sasl_auth_enable = yes\nsmtp_sasl_password_maps = texthash:$DIR/passwd`, resolverFor(srv));
  writeFile(clear.dir, 'passwd', 'mx.dest.test alice:s3cret\n');
  try {
    const a = await wrong.deliver({});
    assert.deepEqual([a.results[0]!.status, a.results[0]!.dsn], ['deferred', '4.7.8']);
    assert.equal(a.results[0]!.reason, 'SASL authentication failed; server mx.dest.test[127.0.0.1] said: 535 5.7.8 Error: authentication failed');
    const b = await clear.deliver({});
    assert.equal(b.results[0]!.status, 'deferred');
    assert.equal(b.results[0]!.reason, 'SASL authentication failed; cannot authenticate to server mx.dest.test[127.0.0.1]: no mechanism available');
    assert.equal(srv.received.length, 0);
    void logged;
  } finally {
    wrong.close();
    clear.close();
    await srv.close();
  }
});
