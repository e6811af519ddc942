/**
 * postscreen(8) end to end, as a Postfix administrator enables it: Postfix
 * 3.7's own master.cf.dist with its postscreen block uncommented (smtp inet
 * ... postscreen, smtpd pass ... smtpd, dnsblog unix ... dnsblog, tlsproxy
 * unix ... tlsproxy), the smtp port moved to a free loopback port, and a
 * second postscreen on another port with the deep protocol tests and
 * STARTTLS. The DNS lists are served by a real DNS server (dnsmasq on a
 * loopback port); the clients are swaks and raw sockets from distinct
 * loopback addresses (one client address per case, so the cases do not
 * share allowlist entries).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { DNSMASQ, startTestDns, type TestDns } from '@postern/dns';
import { childrenOf, freePort, Instance } from '../lib/instance.js';
import { LineClient } from '../lib/line-client.js';
import { SWAKS, swaks } from '../lib/swaks.js';

const DIST = join(dirname(createRequire(import.meta.url).resolve('@postern/core/package.json')), 'test', 'fixtures', 'postfix', 'master.cf.dist');
const skip = !DNSMASQ ? 'dnsmasq is not installed (dnsmasq-base)' : !SWAKS ? 'swaks is not installed' : false;

/** master.cf.dist with the postscreen block enabled on `port` (and the plain smtpd line off). */
function postscreenMasterCf(port: number, deepPort: number): string {
  const lines = readFileSync(DIST, 'utf8').split('\n');
  const out: string[] = [];
  for (const l of lines) {
    if (/^smtp\s+inet\s.*\ssmtpd$/.test(l)) out.push(`#${l}`);
    else if (/^#(smtp\s+inet\s.*postscreen|smtpd\s+pass\s|dnsblog\s+unix\s|tlsproxy\s+unix\s)/.test(l)) out.push(l.slice(1).replace(/^smtp(\s)/, `127.0.0.1:${port}$1`));
    else out.push(l);
  }
  out.push(
    `127.0.0.1:${deepPort} inet n - n - 1 postscreen`,
    '  -o postscreen_pipelining_enable=yes',
    '  -o postscreen_non_smtp_command_enable=yes',
    '  -o postscreen_bare_newline_enable=yes',
    '  -o postscreen_bare_newline_action=drop',
    '  -o postscreen_dnsbl_sites=',
    '  -o postscreen_tls_security_level=may',
    '',
  );
  return out.join('\n');
}

/** Reads whole SMTP replies (multi-line ones joined with \n). */
async function reply(c: LineClient): Promise<string> {
  const lines = [await c.next()];
  while (/^\d{3}-/.test(lines[lines.length - 1]!)) lines.push(await c.next());
  return lines.join('\n');
}

describe('postscreen from master.cf.dist, with dnsblog and tlsproxy', { skip }, () => {
  let inst: Instance;
  let dns: TestDns;
  let port: number;
  let deepPort: number;
  const open = (p: number, from: string) => LineClient.open(p, '127.0.0.1', from);

  before(async () => {
    dns = await startTestDns({
      zones: ['zen.test', 'wl.test'],
      hosts: {
        // 127.0.0.2: denylisted; 127.0.0.3: denylisted and allowlisted, weights cancel
        '2.0.0.127.zen.test': ['127.0.0.2'],
        '3.0.0.127.zen.test': ['127.0.0.2'],
        '3.0.0.127.wl.test': ['127.0.5.1'],
        // 127.0.0.12: listed with a code the filter does not accept
        '12.0.0.127.zen.test': ['127.0.0.99'],
      },
      ttl: 300,
    });
    port = await freePort();
    deepPort = await freePort();
    inst = new Instance({ master: postscreenMasterCf(port, deepPort) });
    const cert = join(inst.configDir, 'cert.pem');
    const key = join(inst.configDir, 'key.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=mail.example.test'], { stdio: 'ignore' });
    chmodSync(key, 0o644);
    writeFileSync(join(inst.configDir, 'postscreen_access.cidr'), '127.0.0.9/32 reject\n127.0.0.0/8 dunno\n');
    mkdirSync(join(inst.dir, 'data'), { recursive: true, mode: 0o777 });
    mkdirSync(join(inst.dir, 'mail'), { recursive: true, mode: 0o1777 });
    inst.writeMain({
      mydestination: '$myhostname, localhost',
      local_recipient_maps: '',
      alias_maps: '',
      mail_spool_directory: join(inst.dir, 'mail'),
      compatibility_level: '3.6',
      mynetworks: '127.0.0.1/32',
      postern_dns_servers: dns.server,
      postscreen_access_list: `permit_mynetworks, cidr:${join(inst.configDir, 'postscreen_access.cidr')}`,
      postscreen_denylist_action: 'drop',
      postscreen_dnsbl_sites: 'zen.test=127.0.0.[2..10]*2, wl.test=127.0.[0..255].1*-2',
      postscreen_dnsbl_threshold: '2',
      postscreen_dnsbl_action: 'enforce',
      postscreen_greet_action: 'drop',
      postscreen_greet_wait: '1s',
      smtpd_tls_cert_file: cert,
      smtpd_tls_key_file: key,
      tlsproxy_tls_loglevel: '1',
    });
    await inst.start();
  });
  after(async () => {
    await inst?.dispose();
    await dns?.stop();
  });

  test('mynetworks is ALLOWLISTED: the connection goes straight to smtpd, and mail is accepted', async () => {
    const r = await swaks(port, ['--local-interface', '127.0.0.1', '--from', 'a@client.example', '--to', 'root@mail.example.test']);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /<- {1,2}220 mail\.example\.test ESMTP Postern/);
    assert.doesNotMatch(r.out, /220-/);
    assert.match(r.out, /<- {1,2}250 2\.0\.0 Ok: queued as \w+/);
    await inst.waitForLog(/postfix\/postscreen\[\d+\]: ALLOWLISTED \[127\.0\.0\.1\]:\d+/);
    await inst.waitForLog(/postfix\/smtpd\[\d+\]: connect from unknown\[127\.0\.0\.1\]/);
  });

  test('a new clean client: the 220- teaser, PASS NEW, hand-off to smtpd; the next connection is PASS OLD', async () => {
    const r = await swaks(port, ['--local-interface', '127.0.0.4', '--from', 'a@client.example', '--to', 'root@mail.example.test']);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /<- {1,2}220-mail\.example\.test ESMTP Postern\n<- {1,2}220 mail\.example\.test ESMTP Postern/);
    assert.match(r.out, /250 2\.0\.0 Ok: queued as/);
    await inst.waitForLog(/CONNECT from \[127\.0\.0\.4\]:\d+ to \[127\.0\.0\.1\]:\d+/);
    await inst.waitForLog(/PASS NEW \[127\.0\.0\.4\]:\d+/);
    const again = await swaks(port, ['--local-interface', '127.0.0.4', '--from', 'a@client.example', '--to', 'root@mail.example.test']);
    assert.equal(again.code, 0, again.out);
    assert.doesNotMatch(again.out, /220-/);
    await inst.waitForLog(/PASS OLD \[127\.0\.0\.4\]:\d+/);
  });

  test('DNSBL rank 2 with postscreen_dnsbl_action = enforce: the dummy engine rejects RCPT with 550 5.7.1', async () => {
    const r = await swaks(port, ['--local-interface', '127.0.0.2', '--from', 'a@client.example', '--to', 'root@mail.example.test']);
    assert.notEqual(r.code, 0);
    assert.match(r.out, /<\*\* +550 5\.7\.1 Service unavailable; client \[127\.0\.0\.2\] blocked using zen\.test/);
    await inst.waitForLog(/postfix\/dnsblog\[\d+\]: addr 127\.0\.0\.2 listed by domain zen\.test as 127\.0\.0\.2/);
    await inst.waitForLog(/DNSBL rank 2 for \[127\.0\.0\.2\]:\d+/);
    await inst.waitForLog(/NOQUEUE: reject: RCPT from \[127\.0\.0\.2\]:\d+: 550 5\.7\.1 Service unavailable; client \[127\.0\.0\.2\] blocked using zen\.test; from=<a@client\.example>, to=<root@mail\.example\.test>, proto=ESMTP, helo=<client\.example>/);
    await inst.waitForLog(/DISCONNECT \[127\.0\.0\.2\]:\d+/);
  });

  test('weights: a DNSWL entry (*-2) cancels a DNSBL entry (*2); a reply the filter refuses counts nothing', async () => {
    for (const from of ['127.0.0.3', '127.0.0.12']) {
      const r = await swaks(port, ['--local-interface', from, '--from', 'a@client.example', '--to', 'root@mail.example.test']);
      assert.equal(r.code, 0, r.out);
      await inst.waitForLog(new RegExp(`PASS NEW \\[${from.replace(/\./g, '\\.')}\\]:\\d+`));
    }
    assert.doesNotMatch(inst.log, /DNSBL rank \d+ for \[127\.0\.0\.(3|12)\]/);
  });

  test('PREGREET with postscreen_greet_action = drop: 521 5.5.1 Protocol error', async () => {
    const c = await open(port, '127.0.0.5');
    assert.equal(await c.next(), '220-mail.example.test ESMTP Postern');
    c.send('EHLO early.example');
    assert.equal(await c.next(), '521 5.5.1 Protocol error');
    await c.closed;
    await inst.waitForLog(/PREGREET 20 after [\d.]+ from \[127\.0\.0\.5\]:\d+: EHLO early\.example\\r\\n/);
  });

  test('postscreen_access_list cidr reject with postscreen_denylist_action = drop: 521 5.3.2', async () => {
    const c = await open(port, '127.0.0.9');
    assert.equal(await c.next(), '521 5.3.2 Service currently unavailable');
    await c.closed;
    await inst.waitForLog(/DENYLISTED \[127\.0\.0\.9\]:\d+/);
  });

  test('deep tests: a clean client gets 450 4.3.2 from the dummy engine, then PASS NEW, and comes back to smtpd', async () => {
    const c = await open(deepPort, '127.0.0.10');
    assert.equal(await c.next(), '220-mail.example.test ESMTP Postern');
    assert.equal(await c.next(), '220 mail.example.test ESMTP Postern');
    c.send('EHLO clean.example');
    const ehlo = await reply(c);
    assert.match(ehlo, /^250-mail\.example\.test\n/);
    assert.doesNotMatch(ehlo, /PIPELINING/);
    c.send('MAIL FROM:<a@clean.example>');
    assert.equal(await c.next(), '250 2.1.0 Ok');
    c.send('RCPT TO:<root@mail.example.test>');
    assert.equal(await c.next(), '450 4.3.2 Service currently unavailable');
    c.send('QUIT');
    assert.equal(await c.next(), '221 2.0.0 Bye');
    await inst.waitForLog(/PASS NEW \[127\.0\.0\.10\]:\d+/);
    await inst.waitForLog(/NOQUEUE: reject: RCPT from \[127\.0\.0\.10\]:\d+: 450 4\.3\.2 Service currently unavailable; from=<a@clean\.example>, to=<root@mail\.example\.test>, proto=ESMTP, helo=<clean\.example>/);
    const r = await swaks(deepPort, ['--local-interface', '127.0.0.10', '--from', 'a@clean.example', '--to', 'root@mail.example.test']);
    assert.equal(r.code, 0, r.out);
    await inst.waitForLog(/PASS OLD \[127\.0\.0\.10\]:\d+/);
  });

  test('deep tests: COMMAND PIPELINING (enforce: 550 5.5.1 at RCPT), NON-SMTP COMMAND (drop), BARE NEWLINE (drop)', async () => {
    const p = await open(deepPort, '127.0.0.6');
    await c220(p);
    p.send('EHLO pipe.example\r\nMAIL FROM:<a@pipe.example>');
    await reply(p);
    assert.equal(await p.next(), '250 2.1.0 Ok');
    p.send('RCPT TO:<root@mail.example.test>');
    assert.equal(await p.next(), '550 5.5.1 Protocol error');
    p.close();
    await inst.waitForLog(/COMMAND PIPELINING from \[127\.0\.0\.6\]:\d+ after EHLO: MAIL FROM:<a@pipe\.example>\\r\\n/);

    const h = await open(deepPort, '127.0.0.7');
    await c220(h);
    h.send('GET / HTTP/1.0');
    assert.equal(await h.next(), '521 5.7.0 Error: I can break rules, too. Goodbye.');
    await h.closed;
    await inst.waitForLog(/NON-SMTP COMMAND from \[127\.0\.0\.7\]:\d+ after CONNECT: GET \/ HTTP\/1\.0/);

    const b = await open(deepPort, '127.0.0.8');
    await c220(b);
    b.socket.write('EHLO bare.example\n');
    assert.equal(await b.next(), '521 5.5.1 Protocol error');
    await b.closed;
    await inst.waitForLog(/BARE NEWLINE from \[127\.0\.0\.8\]:\d+ after EHLO bare\.example/);
  });

  test('STARTTLS in the dummy engine through tlsproxy', async () => {
    const c = await open(deepPort, '127.0.0.11');
    await c220(c);
    c.send('EHLO tls.example');
    assert.match(await reply(c), /\n250-STARTTLS\n/);
    c.send('STARTTLS');
    assert.equal(await c.next(), '220 2.0.0 Ready to start TLS');
    c.socket.removeAllListeners('data');
    const t = tlsConnect({ socket: c.socket, rejectUnauthorized: false, servername: 'mail.example.test' });
    await new Promise<void>((r, j) => {
      t.once('secureConnect', () => r());
      t.once('error', j);
    });
    let buf = '';
    const line = () =>
      new Promise<string>((r) => {
        const check = () => {
          const i = buf.indexOf('\r\n');
          if (i >= 0) {
            const l = buf.slice(0, i);
            buf = buf.slice(i + 2);
            t.off('data', on);
            r(l);
            return true;
          }
          return false;
        };
        const on = (d: Buffer) => {
          buf += d.toString();
          check();
        };
        if (!check()) t.on('data', on);
      });
    t.write('EHLO tls.example\r\n');
    const ehlo: string[] = [await line()];
    while (/^250-/.test(ehlo[ehlo.length - 1]!)) ehlo.push(await line());
    assert.ok(!ehlo.some((l) => l.includes('STARTTLS')), ehlo.join('\n'));
    t.write('MAIL FROM:<a@tls.example>\r\n');
    assert.equal(await line(), '250 2.1.0 Ok');
    t.write('RCPT TO:<root@mail.example.test>\r\n');
    assert.equal(await line(), '450 4.3.2 Service currently unavailable');
    t.write('QUIT\r\n');
    assert.equal(await line(), '221 2.0.0 Bye');
    t.destroy();
    await inst.waitForLog(/postfix\/tlsproxy\[\d+\]: CONNECT from \[127\.0\.0\.11\]:\d+/);
    await inst.waitForLog(/postfix\/tlsproxy\[\d+\]: Anonymous TLS connection established from \[127\.0\.0\.11\]:\d+: TLSv1\.[23] with cipher/);
  });

  test('STARTTLS sessions that send at once or close mid-session: every session ends on both sides, postscreen and tlsproxy stay small', async () => {
    const starttls = async (): Promise<TLSSocket> => {
      const c = await open(deepPort, '127.0.0.13');
      // the teaser only while the pregreet test is not passed
      assert.match(await reply(c), /^(220-mail\.example\.test ESMTP Postern\n)?220 mail\.example\.test ESMTP Postern$/);
      c.send('EHLO tls.example');
      await reply(c);
      c.send('STARTTLS');
      assert.equal(await c.next(), '220 2.0.0 Ready to start TLS');
      c.socket.removeAllListeners('data');
      const t = tlsConnect({ socket: c.socket, rejectUnauthorized: false, servername: 'mail.example.test' });
      t.on('error', () => undefined);
      await once(t, 'secureConnect');
      return t;
    };
    const rounds = 8;
    for (let i = 0; i < rounds; i++) {
      // the first bytes of the session right behind the handshake: tlsproxy's result line and them often share one read
      const t = await starttls();
      let got = '';
      t.on('data', (d: Buffer) => (got += d.toString('latin1')));
      t.write('EHLO tls.example\r\n');
      while (!/^250 /m.test(got)) await once(t, 'data');
      t.write('QUIT\r\n');
      await once(t, 'close');
      assert.match(got, /221 2\.0\.0 Bye\r\n$/);
      // a client that goes away mid-session, with a command half sent
      const u = await starttls();
      u.write('EHLO half');
      u.destroy();
    }
    const ends = () => inst.log.match(/postfix\/tlsproxy\[\d+\]: DISCONNECT \[127\.0\.0\.13\]/g)?.length ?? 0;
    const disconnects = () => inst.log.match(/postfix\/postscreen\[\d+\]: DISCONNECT \[127\.0\.0\.13\]/g)?.length ?? 0;
    while (ends() < 2 * rounds || disconnects() < 2 * rounds) await new Promise((r) => setTimeout(r, 100));
    const rss = childrenOf(inst.pid!).map((pid) => {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      return { title: readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0]!, kb: Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) };
    });
    const front = rss.filter((p) => /postern\/(postscreen|tlsproxy)/.test(p.title));
    console.log(`# ${front.map((p) => `${p.title.split(' ')[0]} ${Math.round(p.kb / 1024)} MB`).join(', ')}`);
    assert.ok(front.some((p) => p.title.startsWith('postern/tlsproxy')), JSON.stringify(rss));
    for (const p of front) assert.ok(p.kb < 300 * 1024, `${p.title}: ${p.kb} kB`);
  });
});

async function c220(c: LineClient): Promise<void> {
  assert.equal(await c.next(), '220-mail.example.test ESMTP Postern');
  assert.equal(await c.next(), '220 mail.example.test ESMTP Postern');
}
