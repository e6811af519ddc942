/**
 * check_policy_service (SMTPD_POLICY_README) against the real postgrey
 * (greylisting: 450 first, accepted after the delay, X-Greylist: prepended),
 * and against a small policy server written here that records what smtpd
 * sends (the attribute set, connection reuse, request limits, unix sockets,
 * a dead server and a server that answers without an action).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { RawClient, startRig } from './helpers.js';

const POSTGREY = '/usr/sbin/postgrey';

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

async function waitForPort(port: number, ms: number): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    const ok = await new Promise<boolean>((r) => {
      const s: Socket = connect(port, '127.0.0.1');
      s.once('connect', () => (s.destroy(), r(true)));
      s.once('error', () => r(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`nothing listens on port ${port}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** MAIL, RCPT (and with `data`, the message): the replies. */
async function attempt(port: number, rcpt: string, data?: string): Promise<string[]> {
  const c = await RawClient.open(port);
  const out: string[] = [];
  await c.reply();
  await c.cmd('EHLO client.example');
  out.push((await c.cmd('MAIL FROM:<alice@sender.example>'))!);
  out.push((await c.cmd(`RCPT TO:<${rcpt}>`))!);
  if (data !== undefined && out[1]!.startsWith('250')) {
    out.push((await c.cmd('DATA'))!);
    out.push((await c.cmd(`${data}\r\n.`))!);
  }
  await c.cmd('QUIT');
  await c.waitClose();
  return out;
}

test('postgrey: the first attempt is greylisted (450 4.2.0), the retry after --delay is accepted with X-Greylist', { skip: !existsSync(POSTGREY) && 'postgrey is not installed (Debian package postgrey)' }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'postern-postgrey-'));
  const asRoot = process.getuid?.() === 0;
  const hasUser = spawnSync('id', ['postgrey']).status === 0;
  if (asRoot && hasUser) {
    const uid = Number(spawnSync('id', ['-u', 'postgrey']).stdout.toString());
    const gid = Number(spawnSync('id', ['-g', 'postgrey']).stdout.toString());
    chownSync(dir, uid, gid);
  }
  const port = await freePort();
  const args = [
    `--inet=127.0.0.1:${port}`, `--dbdir=${dir}`, '--delay=2', '--auto-whitelist-clients=0',
    '--whitelist-clients=/dev/null', '--whitelist-recipients=/dev/null', '--hostname=grey.example',
  ];
  if (asRoot && hasUser) args.push('--user=postgrey', '--group=postgrey');
  const grey = spawn(POSTGREY, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  grey.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const rig = await startRig({ smtpd_recipient_restrictions: `permit_sasl_authenticated, check_policy_service inet:127.0.0.1:${port}` });
  try {
    await waitForPort(port, 15_000).catch((e: Error) => assert.fail(`${e.message}: ${stderr}`));
    const first = await attempt(rig.port, 'bob@example.com');
    assert.equal(first[1], '450 4.2.0 <bob@example.com>: Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/help/example.com.html');
    assert.ok(
      rig.log.lines.some((l) => l.startsWith('NOQUEUE: reject: RCPT from unknown[127.0.0.1]: 450 4.2.0 <bob@example.com>: Recipient address rejected: Greylisted')),
      rig.log.lines.join('\n'),
    );
    const early = await attempt(rig.port, 'bob@example.com');
    assert.match(early[1]!, /^450 4\.2\.0 /, 'a retry before the delay is still greylisted');
    await new Promise((r) => setTimeout(r, 2600));
    const retry = await attempt(rig.port, 'bob@example.com', 'Subject: greylisted\r\n\r\nhello');
    assert.equal(retry[1], '250 2.1.5 Ok');
    assert.match(retry[3]!, /^250 2\.0\.0 Ok: queued as /);
    const msg = rig.cleanup.submitted.at(-1)!;
    assert.match(msg.content.split('\n')[0]!, /^X-Greylist: delayed \d+ seconds by postgrey-[\d.]+ at grey\.example; /);
  } finally {
    await rig.stop();
    grey.kill();
    rmSync(dir, { recursive: true, force: true });
  }
});

/** A policy server that records every request and answers with `answer(request)`. */
class RecordingPolicy {
  readonly requests: Map<string, string>[] = [];
  connections = 0;
  readonly server: Server;
  constructor(answer: (req: Map<string, string>) => string) {
    this.server = createServer((s) => {
      this.connections++;
      let buf = '';
      s.setEncoding('utf8');
      s.on('error', () => undefined);
      s.on('data', (d: string) => {
        buf += d;
        for (let end = buf.indexOf('\n\n'); end >= 0; end = buf.indexOf('\n\n')) {
          const req = new Map(buf.slice(0, end).split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as [string, string]));
          buf = buf.slice(end + 2);
          this.requests.push(req);
          s.write(answer(req));
        }
      });
    });
  }
  listen(where: { port: number; host: string } | { path: string }): Promise<void> {
    return new Promise((r) => this.server.listen(where, r));
  }
  close(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }
}

test('check_policy_service: the attribute set, one connection reused across sessions, access(5) actions', async () => {
  const policy = new RecordingPolicy((req) =>
    req.get('recipient') === 'blocked@example.com' ? 'action=REJECT 5.7.9 not today\n\n' : req.get('protocol_state') === 'DATA' ? 'action=DUNNO\n\n' : 'action=OK\n\n',
  );
  await policy.listen({ port: 0, host: '127.0.0.1' });
  const port = (policy.server.address() as { port: number }).port;
  const rig = await startRig({
    smtpd_recipient_restrictions: `check_policy_service inet:127.0.0.1:${port}`,
    smtpd_data_restrictions: `check_policy_service { inet:127.0.0.1:${port}, timeout=5s, policy_context=submission }`,
  });
  try {
    const a = await attempt(rig.port, 'bob@example.com', 'Subject: x\r\n\r\nbody');
    assert.equal(a[1], '250 2.1.5 Ok');
    assert.match(a[3]!, /^250 /);
    const b = await attempt(rig.port, 'blocked@example.com');
    assert.equal(b[1], '554 5.7.9 <blocked@example.com>: Recipient address rejected: not today');
    assert.equal(policy.connections, 1, 'one connection serves both sessions');
    const rcpt = policy.requests[0]!;
    assert.deepEqual([...rcpt.keys()], [
      'request', 'protocol_state', 'protocol_name', 'helo_name', 'queue_id', 'sender', 'recipient', 'recipient_count',
      'client_address', 'client_name', 'reverse_client_name', 'instance', 'sasl_method', 'sasl_username', 'sasl_sender',
      'size', 'ccert_subject', 'ccert_issuer', 'ccert_fingerprint', 'ccert_pubkey_fingerprint', 'encryption_protocol',
      'encryption_cipher', 'encryption_keysize', 'etrn_domain', 'stress', 'client_port', 'policy_context',
      'server_address', 'server_port', 'compatibility_level', 'mail_version',
    ]);
    assert.equal(rcpt.get('request'), 'smtpd_access_policy');
    assert.equal(rcpt.get('protocol_state'), 'RCPT');
    assert.equal(rcpt.get('protocol_name'), 'ESMTP');
    assert.equal(rcpt.get('helo_name'), 'client.example');
    assert.equal(rcpt.get('sender'), 'alice@sender.example');
    assert.equal(rcpt.get('recipient'), 'bob@example.com');
    assert.equal(rcpt.get('client_address'), '127.0.0.1');
    assert.equal(rcpt.get('client_name'), 'unknown');
    assert.equal(rcpt.get('recipient_count'), '0');
    const data = policy.requests[1]!;
    assert.equal(data.get('protocol_state'), 'DATA');
    assert.equal(data.get('recipient_count'), '1');
    assert.equal(data.get('policy_context'), 'submission');
    assert.equal(data.get('instance'), rcpt.get('instance'), 'one instance per mail transaction');
    assert.notEqual(policy.requests[2]!.get('instance'), rcpt.get('instance'));
  } finally {
    await rig.stop();
    await policy.close();
  }
});

test('check_policy_service: request_limit, unix:private/NAME, a dead server and a missing action get the default action', async () => {
  const policy = new RecordingPolicy((req) => (req.get('recipient') === 'silent@example.com' ? 'foo=bar\n\n' : 'action=DUNNO\n\n'));
  const deadPort = await freePort();
  const rig = await startRig({
    smtpd_policy_service_request_limit: '1',
    smtpd_policy_service_retry_delay: '0s',
    smtpd_recipient_restrictions: 'check_policy_service unix:private/policy',
    smtpd_data_restrictions: `check_policy_service { inet:127.0.0.1:${deadPort}, try_limit=3 }`,
  });
  mkdirSync(join(rig.dir, 'private'));
  await policy.listen({ path: join(rig.dir, 'private', 'policy') });
  try {
    assert.equal((await attempt(rig.port, 'bob@example.com'))[1], '250 2.1.5 Ok');
    assert.equal((await attempt(rig.port, 'carol@example.com'))[1], '250 2.1.5 Ok');
    assert.equal(policy.connections, 2, 'request_limit = 1: a connection per request');
    const dead = await attempt(rig.port, 'dave@example.com', 'Subject: x\r\n\r\nbody');
    assert.equal(dead[2], '451 4.3.5 <DATA>: Data command rejected: Server configuration problem');
    assert.equal(rig.log.lines.filter((l) => l.startsWith(`warning: problem talking to server 127.0.0.1:${deadPort}: `)).length, 3, rig.log.lines.join('\n'));
    const silent = await attempt(rig.port, 'silent@example.com');
    assert.equal(silent[1], '451 4.3.5 <silent@example.com>: Recipient address rejected: Server configuration problem');
    assert.ok(rig.log.lines.some((l) => /^warning: missing attribute action in input from .*private\/policy$/.test(l)));
  } finally {
    await rig.stop();
    await policy.close();
  }
});

test('check_policy_service: max_idle closes an unused connection; a silent server times out into default_action', async () => {
  const policy = new RecordingPolicy(() => 'action=DUNNO\n\n');
  await policy.listen({ port: 0, host: '127.0.0.1' });
  const port = (policy.server.address() as { port: number }).port;
  const silent = createServer((s) => s.on('error', () => undefined));
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  const silentPort = (silent.address() as { port: number }).port;
  const rig = await startRig({
    smtpd_policy_service_max_idle: '1s',
    smtpd_recipient_restrictions: `check_policy_service inet:127.0.0.1:${port}`,
    smtpd_data_restrictions: `check_policy_service { inet:127.0.0.1:${silentPort}, timeout=1s, try_limit=1, default_action=DUNNO }`,
  });
  try {
    assert.equal((await attempt(rig.port, 'bob@example.com'))[1], '250 2.1.5 Ok');
    assert.equal((await attempt(rig.port, 'bob@example.com'))[1], '250 2.1.5 Ok');
    assert.equal(policy.connections, 1, 'reused while fresh');
    await new Promise((r) => setTimeout(r, 1300));
    const t0 = Date.now();
    const r = await attempt(rig.port, 'bob@example.com', 'Subject: x\r\n\r\nbody');
    assert.equal(policy.connections, 2, 'a new connection after max_idle');
    assert.match(r[3]!, /^250 2\.0\.0 Ok: queued as /, 'default_action=DUNNO lets the message in');
    assert.ok(Date.now() - t0 >= 900, 'waited for the timeout');
    assert.ok(rig.log.lines.some((l) => l === `warning: problem talking to server 127.0.0.1:${silentPort}: timeout`), rig.log.lines.join('\n'));
  } finally {
    await rig.stop();
    await policy.close();
    silent.close();
  }
});

test('check_policy_service after STARTTLS with smtpd_tls_ask_ccert: ccert_* of a trusted, an untrusted and no client certificate; stress', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'postern-ccert-'));
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'ignore'] }).toString();
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.pem', '-days', '2', '-subj', '/CN=mx.example.com');
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=Test CA');
  ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'client.key', '-out', 'client.csr', '-subj', '/CN=client one.example');
  ssl('x509', '-req', '-in', 'client.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'client.pem', '-days', '2');
  ssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'self.key', '-out', 'self.pem', '-days', '2', '-subj', '/CN=self.example');
  // the expected fingerprints, from openssl itself
  const certFp = (f: string) => ssl('x509', '-in', f, '-noout', '-fingerprint', '-sha256').trim().split('=')[1]!;
  const pubFp = (f: string) => {
    writeFileSync(join(dir, 'pub.der'), execFileSync('openssl', ['pkey', '-pubin', '-outform', 'DER'], { input: ssl('x509', '-in', f, '-noout', '-pubkey') }));
    return ssl('dgst', '-sha256', '-c', 'pub.der').trim().split('= ')[1]!.toUpperCase();
  };
  const policy = new RecordingPolicy(() => 'action=DUNNO\n\n');
  await policy.listen({ port: 0, host: '127.0.0.1' });
  const port = (policy.server.address() as { port: number }).port;
  const rig = await startRig({
    smtpd_tls_security_level: 'may',
    smtpd_tls_cert_file: join(dir, 'server.pem'),
    smtpd_tls_key_file: join(dir, 'server.key'),
    smtpd_tls_ask_ccert: 'yes',
    smtpd_tls_CAfile: join(dir, 'ca.pem'),
    smtpd_tls_loglevel: '1',
    smtpd_recipient_restrictions: `check_policy_service inet:127.0.0.1:${port}, permit`,
    stress: 'yes',
  });
  const session = async (cert?: string): Promise<Map<string, string>> => {
    const c = await RawClient.open(rig.port);
    await c.reply();
    await c.cmd('EHLO client.example');
    assert.equal(await c.cmd('STARTTLS'), '220 2.0.0 Ready to start TLS');
    c.socket.removeAllListeners('data');
    const s = tlsConnect({
      socket: c.socket,
      rejectUnauthorized: false,
      servername: 'mx.example.com',
      ...(cert ? { cert: readFileSync(join(dir, `${cert}.pem`)), key: readFileSync(join(dir, `${cert}.key`)) } : {}),
    });
    await new Promise<void>((r) => s.once('secureConnect', () => r()));
    const t = new RawClient(s as never);
    await t.cmd('EHLO client.example');
    await t.cmd('MAIL FROM:<alice@sender.example>');
    assert.match((await t.cmd('RCPT TO:<bob@example.com>'))!, /^250 /);
    await t.cmd('QUIT');
    return policy.requests.at(-1)!;
  };
  try {
    const trusted = await session('client');
    assert.equal(trusted.get('ccert_subject'), 'client+20one.example');
    assert.equal(trusted.get('ccert_issuer'), 'Test+20CA');
    assert.equal(trusted.get('ccert_fingerprint'), certFp('client.pem'));
    assert.equal(trusted.get('ccert_pubkey_fingerprint'), pubFp('client.pem'));
    assert.match(trusted.get('encryption_protocol')!, /^TLSv1\.[23]$/);
    assert.equal(trusted.get('stress'), 'yes');
    assert.ok(rig.log.lines.some((l) => /^Trusted TLS connection established from unknown\[127\.0\.0\.1\]: TLSv1\.[23] with cipher /.test(l)), rig.log.lines.join('\n'));

    const untrusted = await session('self');
    assert.equal(untrusted.get('ccert_subject'), '');
    assert.equal(untrusted.get('ccert_issuer'), '');
    assert.equal(untrusted.get('ccert_fingerprint'), certFp('self.pem'));
    assert.equal(untrusted.get('ccert_pubkey_fingerprint'), pubFp('self.pem'));
    assert.ok(rig.log.lines.some((l) => /^Untrusted TLS connection established from /.test(l)));

    const anonymous = await session();
    for (const a of ['ccert_subject', 'ccert_issuer', 'ccert_fingerprint', 'ccert_pubkey_fingerprint']) assert.equal(anonymous.get(a), '', a);
    assert.ok(rig.log.lines.some((l) => /^Anonymous TLS connection established from /.test(l)));
  } finally {
    await rig.stop();
    await policy.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
