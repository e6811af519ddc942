/**
 * postscreen(8) in-process on a loopback port, with raw SMTP clients from
 * distinct 127.0.0.x addresses (one address per case: the cases do not
 * share allowlist entries): pregreet, the temporary allowlist and its
 * expiry (the service's clock is injected), postscreen_access_list
 * (permit_mynetworks with a negated entry), the deep protocol tests, and
 * DNSBL scores (sums of weights of one domain, a DNSWL weight, the
 * allowlist threshold) with a real dnsblog-style service answering from a
 * real DNS server (dnsmasq on a loopback port). A connection that passes
 * is handed to the handoff hook, which greets it as smtpd would.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryLogger, serveDnsblog, startServiceInProcess, type InProcessService } from '@postern/core';
import { DNSMASQ, dnsblLookup, dnsResolver, startTestDns, type TestDns } from '@postern/dns';
import { MemoryCache } from '../src/postscreen-cache.js';
import { Client, entry, HANDED, startPostscreen, waitLog, type Rig } from './helpers.js';

describe('postscreen before the greeting: pregreet, temporary allowlist, access list', () => {
  let dir: string;
  let rig: Rig;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'postern-postscreen-'));
    rig = await startPostscreen(dir, {
      mynetworks: '!127.0.1.20, 127.0.1.0/24',
      postscreen_access_list: 'permit_mynetworks',
      postscreen_greet_wait: '2s',
      postscreen_greet_ttl: '1h',
      postscreen_greet_action: 'drop',
    });
  });
  after(async () => {
    await rig?.svc.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('a client that speaks before its turn: PREGREET logged with the bytes, 521 5.5.1 with greet_action = drop', async () => {
    const c = await Client.open(rig.port, '127.0.0.5');
    const port = c.socket.localPort;
    assert.equal(await c.next(), '220-mail.example.test ESMTP Postern');
    c.socket.write('EHLO early.example\r\n');
    assert.equal(await c.next(), '521 5.5.1 Protocol error');
    await c.closed;
    assert.match(await waitLog(rig.log, /^PREGREET 20 after/), /^PREGREET 20 after [\d.]+ from \[127\.0\.0\.5\]:\d+: EHLO early\.example\\r\\n$/);
    assert.ok(rig.log.lines.includes(`DISCONNECT [127.0.0.5]:${port}`));
    assert.deepEqual(rig.handed, []);
  });

  test('a quiet client passes (PASS NEW, handed to smtpd), comes back as PASS OLD, and is tested again once greet_ttl expired', async () => {
    const a = await Client.open(rig.port, '127.0.0.6');
    assert.equal(await a.next(), '220-mail.example.test ESMTP Postern');
    assert.equal(await a.next(), HANDED);
    assert.ok(rig.log.lines.some((l) => /^PASS NEW \[127\.0\.0\.6\]:\d+$/.test(l)), rig.log.lines.join('\n'));
    // within the TTL: straight to smtpd, no teaser
    const b = await Client.open(rig.port, '127.0.0.6');
    assert.equal(await b.next(), HANDED);
    assert.match(await waitLog(rig.log, /^PASS OLD \[127\.0\.0\.6\]/), /^PASS OLD \[127\.0\.0\.6\]:\d+$/);
    // one hour and a second later (postscreen's clock): the pregreet test is due again
    rig.clock.offset = 3601_000;
    const c = await Client.open(rig.port, '127.0.0.6');
    assert.equal(await c.next(), '220-mail.example.test ESMTP Postern');
    assert.equal(await c.next(), HANDED);
    // passed again: an old client (it had passed before), not a new one
    assert.equal(rig.log.lines.filter((l) => /^PASS OLD \[127\.0\.0\.6\]/.test(l)).length, 2);
    assert.equal(rig.log.lines.filter((l) => /^PASS NEW \[127\.0\.0\.6\]/.test(l)).length, 1);
    rig.clock.offset = 0;
  });

  test('postscreen_access_list permit_mynetworks: ALLOWLISTED with no teaser; a negated mynetworks entry is screened', async () => {
    const a = await Client.open(rig.port, '127.0.1.7');
    assert.equal(await a.next(), HANDED);
    assert.match(await waitLog(rig.log, /^ALLOWLISTED \[127\.0\.1\.7\]/), /^ALLOWLISTED \[127\.0\.1\.7\]:\d+$/);
    const b = await Client.open(rig.port, '127.0.1.20');
    assert.equal(await b.next(), '220-mail.example.test ESMTP Postern');
    assert.equal(await b.next(), HANDED);
    assert.ok(!rig.log.lines.some((l) => l.startsWith('ALLOWLISTED [127.0.1.20]')));
  });
});

describe('postscreen cache: postscreen_cache_retention_time', () => {
  test('cleanup drops entries whose every test expired longer ago than the retention time', async () => {
    const cache = new MemoryCache();
    const now = 1_000_000;
    await cache.update('192.0.2.1', `${now - 100};${now - 100};1;1;1`); // expired 100 s ago
    await cache.update('192.0.2.2', `${now - 10_000};${now - 10_000};1;1;1`); // expired long ago
    await cache.update('192.0.2.3', `${now + 60};1;1;1;1`); // still valid
    assert.deepEqual(await cache.cleanup(now, 3600), [2, 1]);
    assert.equal(await cache.lookup('192.0.2.2'), undefined);
    assert.deepEqual(await cache.lookup('192.0.2.1'), { pregr: now - 100, dnsbl: now - 100, pipel: 1, nsmtp: 1, barlf: 1 });
  });
});

describe('postscreen deep protocol tests in the dummy engine', () => {
  let dir: string;
  let rig: Rig;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'postern-postscreen-'));
    rig = await startPostscreen(dir, {
      mynetworks: '',
      postscreen_greet_banner: '',
      postscreen_pipelining_enable: 'yes',
      postscreen_non_smtp_command_enable: 'yes',
      postscreen_bare_newline_enable: 'yes',
      postscreen_bare_newline_action: 'drop',
      postscreen_discard_ehlo_keywords: 'etrn, DSN',
    });
  });
  after(async () => {
    await rig?.svc.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('a clean client: EHLO without the discarded keywords, 450 4.3.2 at RCPT and PASS NEW; on its return it is handed to smtpd', async () => {
    const c = await Client.open(rig.port, '127.0.2.1');
    assert.equal(await c.next(), '220 mail.example.test ESMTP Postern');
    c.send('EHLO clean.example');
    const ehlo = await c.reply();
    assert.match(ehlo, /^250-mail\.example\.test\n/);
    assert.doesNotMatch(ehlo, /PIPELINING/);
    // postscreen_discard_ehlo_keywords, case-insensitive
    assert.deepEqual(ehlo.split('\n').slice(1).map((l) => l.slice(4)), ['SIZE 10240000', 'VRFY', 'ENHANCEDSTATUSCODES', '8BITMIME', 'SMTPUTF8', 'CHUNKING']);
    c.send('MAIL FROM:<a@clean.example>');
    assert.equal(await c.next(), '250 2.1.0 Ok');
    c.send('RCPT TO:<b@mail.example.test>');
    assert.equal(await c.next(), '450 4.3.2 Service currently unavailable');
    c.send('QUIT');
    assert.equal(await c.next(), '221 2.0.0 Bye');
    await c.closed;
    assert.ok(rig.log.lines.some((l) => /^PASS NEW \[127\.0\.2\.1\]:\d+$/.test(l)), rig.log.lines.join('\n'));
    const again = await Client.open(rig.port, '127.0.2.1');
    assert.equal(await again.next(), HANDED);
  });

  test('pipelining without PIPELINING (enforce): 550 5.5.1 at RCPT; non-SMTP command (drop): 521 5.7.0; bare newline (drop): 521 5.5.1', async () => {
    const p = await Client.open(rig.port, '127.0.2.2');
    await p.next();
    p.socket.write('EHLO pipe.example\r\nMAIL FROM:<a@pipe.example>\r\n');
    await p.reply();
    assert.equal(await p.next(), '250 2.1.0 Ok');
    p.send('RCPT TO:<b@mail.example.test>');
    assert.equal(await p.next(), '550 5.5.1 Protocol error');
    p.socket.destroy();
    assert.match(await waitLog(rig.log, /^COMMAND PIPELINING from \[127\.0\.2\.2\]/), /after EHLO: MAIL FROM:<a@pipe\.example>\\r\\n$/);

    const h = await Client.open(rig.port, '127.0.2.3');
    await h.next();
    h.send('POST /cgi-bin HTTP/1.1');
    assert.equal(await h.next(), '521 5.7.0 Error: I can break rules, too. Goodbye.');
    await h.closed;
    await waitLog(rig.log, /^NON-SMTP COMMAND from \[127\.0\.2\.3\]:\d+ after CONNECT: POST \/cgi-bin HTTP\/1\.1$/);

    const b = await Client.open(rig.port, '127.0.2.4');
    await b.next();
    b.socket.write('HELO bare.example\n');
    assert.equal(await b.next(), '521 5.5.1 Protocol error');
    await b.closed;
    await waitLog(rig.log, /^BARE NEWLINE from \[127\.0\.2\.4\]:\d+ after HELO bare\.example$/);
    assert.deepEqual(rig.handed, ['[127.0.2.1]']);
  });

  test('a client that floods without a newline is cut at line_length_limit and its input is not kept', async () => {
    const c = await Client.open(rig.port, '127.0.2.5');
    await c.next();
    const rss0 = process.memoryUsage().rss;
    const chunk = Buffer.alloc(64 * 1024, 0x41);
    let written = 0;
    while (!c.socket.destroyed && written < 64 * 1024 * 1024) {
      written += chunk.length;
      if (!c.socket.write(chunk)) await Promise.race([new Promise((r) => c.socket.once('drain', r)), c.closed]);
    }
    await c.closed;
    assert.match(await waitLog(rig.log, /^COMMAND LENGTH LIMIT from \[127\.0\.2\.5\]/), /after CONNECT$/);
    assert.ok(process.memoryUsage().rss - rss0 < 64 * 1024 * 1024, `rss grew ${process.memoryUsage().rss - rss0}`);
  });
});

describe('postscreen DNSBL scores with a real DNS server', { skip: DNSMASQ ? false : 'dnsmasq is not installed (dnsmasq-base)' }, () => {
  let dir: string;
  let dns: TestDns;
  let dnsblog: InProcessService;
  let rig: Rig;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'postern-postscreen-'));
    dns = await startTestDns({
      zones: ['zen.test', 'wl.test'],
      hosts: {
        '2.3.0.127.zen.test': ['127.0.0.2'], // both zen.test sites: 2 + 1
        '3.3.0.127.zen.test': ['127.0.0.99'], // only the unfiltered site: 1
        '4.3.0.127.zen.test': ['127.0.0.2'],
        '4.3.0.127.wl.test': ['127.0.5.1'], // 3 - 5: allowlisted
      },
      ttl: 300,
    });
    const resolver = dnsResolver({ servers: [dns.server] });
    rig = await startPostscreen(dir, {
      mynetworks: '',
      postscreen_greet_banner: '',
      postscreen_pipelining_enable: 'yes',
      postscreen_dnsbl_sites: 'zen.test=127.0.0.[2..10]*2, zen.test, wl.test=127.0.[0..255].1*-5',
      postscreen_dnsbl_threshold: '3',
      postscreen_dnsbl_allowlist_threshold: '-1',
      postscreen_dnsbl_action: 'drop',
      postscreen_greet_wait: '3s',
    });
    const config = rig.svc.host.ctx.config;
    dnsblog = await startServiceInProcess(
      async (ctx) =>
        serveDnsblog(ctx, {
          async query(domain, address, id) {
            const a = await dnsblLookup(resolver, address, domain);
            return { domain, address, id, result: a.addresses.join(' '), ttl: a.ttl };
          },
        }),
      { entry: entry('dnsblog', 'unix'), config, log: new MemoryLogger(), listen: { path: join(config.get('queue_directory'), 'private', 'dnsblog') } },
    );
  });
  after(async () => {
    await rig?.svc.stop();
    await dnsblog?.stop();
    await dns?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('two sites of one domain add up: rank 3 reaches the threshold, 521 with the domain named', async () => {
    const c = await Client.open(rig.port, '127.0.3.2');
    assert.equal(await c.next(), '521 5.7.1 Service unavailable; client [127.0.3.2] blocked using zen.test');
    await c.closed;
    assert.match(await waitLog(rig.log, /^DNSBL rank/), /^DNSBL rank 3 for \[127\.0\.3\.2\]:\d+$/);
  });

  test('a reply only the unfiltered site accepts: rank 1, below the threshold: on to the deep tests', async () => {
    const c = await Client.open(rig.port, '127.0.3.3');
    assert.equal(await c.next(), '220 mail.example.test ESMTP Postern');
    c.send('QUIT');
    assert.equal(await c.next(), '221 2.0.0 Bye');
    assert.ok(!rig.log.lines.some((l) => l.startsWith('DNSBL rank') && l.includes('127.0.3.3')));
  });

  test('a DNSWL weight below postscreen_dnsbl_allowlist_threshold: the deep tests are skipped, PASS NEW, handed to smtpd', async () => {
    const c = await Client.open(rig.port, '127.0.3.4');
    assert.equal(await c.next(), HANDED);
    assert.match(await waitLog(rig.log, /^PASS NEW \[127\.0\.3\.4\]/), /^PASS NEW \[127\.0\.3\.4\]:\d+$/);
    assert.ok(!rig.log.lines.some((l) => l.startsWith('DNSBL rank') && l.includes('127.0.3.4')));
  });
});

describe('postscreen_post_queue_limit: smtpd busy with handed connections', () => {
  let dir: string;
  let rig: Rig;
  const serverClosed: Promise<void>[] = [];
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'postern-postscreen-'));
    // the hand-off keeps the connection (an smtpd serving it) until the client quits
    const serve = (socket: Socket): void => {
      serverClosed.push(new Promise((r) => socket.once('close', () => r())));
      socket.write(`${HANDED}\r\n`);
      socket.on('end', () => socket.end());
    };
    rig = await startPostscreen(dir, { mynetworks: '127.0.0.0/8', postscreen_access_list: 'permit_mynetworks', postscreen_post_queue_limit: '1' }, serve);
  });
  after(async () => {
    await rig?.svc.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('a second client while one is served gets 421 4.3.2 All server ports are busy; once it leaves, the next is handed over', async () => {
    const a = await Client.open(rig.port, '127.0.0.7');
    assert.equal(await a.next(), HANDED);
    const b = await Client.open(rig.port, '127.0.0.8');
    const bPort = b.socket.localPort;
    assert.equal(await b.next(), '421 4.3.2 All server ports are busy');
    await b.closed;
    assert.ok(rig.log.lines.includes(`NOQUEUE: reject: CONNECT from [127.0.0.8]:${bPort}: all server ports busy`), rig.log.lines.join('\n'));
    a.socket.end();
    await a.closed;
    await serverClosed[0];
    const c = await Client.open(rig.port, '127.0.0.8');
    assert.equal(await c.next(), HANDED);
    c.socket.end();
    await c.closed;
    assert.deepEqual(rig.handed, ['[127.0.0.7]', '[127.0.0.8]']);
  });
});

describe('postscreen_pre_queue_limit: too many clients being screened', () => {
  let dir: string;
  let rig: Rig;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'postern-postscreen-'));
    rig = await startPostscreen(dir, { postscreen_access_list: '', postscreen_pre_queue_limit: '1', postscreen_greet_wait: '1s', postscreen_greet_action: 'enforce' });
  });
  after(async () => {
    await rig?.svc.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('a second client while one is in the greet wait gets 421 4.3.2 All screening ports are busy', async () => {
    const a = await Client.open(rig.port, '127.0.0.9');
    assert.equal(await a.next(), '220-mail.example.test ESMTP Postern');
    const b = await Client.open(rig.port, '127.0.0.10');
    const bPort = b.socket.localPort;
    assert.equal(await b.next(), '421 4.3.2 All screening ports are busy');
    await b.closed;
    assert.ok(rig.log.lines.includes(`reject: connect from [127.0.0.10]:${bPort}: all screening ports busy`), rig.log.lines.join('\n'));
    // the first is screened to the end and handed over
    assert.equal(await a.next(), HANDED);
    await a.closed;
    assert.deepEqual(rig.handed, ['[127.0.0.9]']);
  });
});
