/**
 * smtp(8) against real smtp-server instances on loopback: MX order,
 * per-recipient results, ESMTP extensions, generic maps, connection reuse.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { parseDestination, parseReply, downgrade8bit } from '@postern/core';
import { local, smtpError, testClient, testResolver, testServer, writeFile } from '@postern/testkit';

test('parseDestination: Postfix next-hop forms (PTEST_CASE style)', () => {
  const cases: [string, unknown][] = [
    ['example.com', { kind: 'inet', host: 'example.com', port: 25, mx: true }],
    ['example.com:2525', { kind: 'inet', host: 'example.com', port: 2525, mx: true }],
    ['[mail.example.com]', { kind: 'inet', host: 'mail.example.com', port: 25, mx: false }],
    ['[mail.example.com]:submission', { kind: 'inet', host: 'mail.example.com', port: 587, mx: false }],
    ['[192.0.2.1]:26', { kind: 'inet', host: '192.0.2.1', port: 26, mx: false }],
    ['[ipv6:::1]:24', { kind: 'inet', host: '::1', port: 24, mx: false }],
    ['inet:lmtp.example.com:24', { kind: 'inet', host: 'lmtp.example.com', port: 24, mx: true }],
    ['unix:/var/run/lmtp', { kind: 'unix', path: '/var/run/lmtp' }],
    ['[bad', undefined],
    ['host:notaport', undefined],
  ];
  for (const [text, want] of cases) {
    const got = parseDestination(text, 25);
    if (want === undefined) assert.equal(got, undefined, text);
    else assert.deepEqual({ ...got, text: undefined }, { ...(want as object), text: undefined }, text);
  }
});

test('parseReply: enhanced status codes, multi-line replies, truncation', () => {
  assert.deepEqual(parseReply('550 5.1.1 <u@x>: unknown'), { code: 550, dsn: '5.1.1', text: '550 5.1.1 <u@x>: unknown' });
  assert.deepEqual(parseReply('451 try later'), { code: 451, dsn: '4.0.0', text: '451 try later' });
  assert.equal(parseReply('250-first\n250 2.0.0 second').text, '250-first 250 2.0.0 second');
  assert.equal(parseReply(`550 ${'x'.repeat(5000)}`, 100).text.length, 100);
});

test('MX preference: a host that refuses the connection, one that greets 4XX, then the one that takes the mail', async () => {
  const busy = await testServer({ banner: 'busy' });
  const good = await testServer();
  // A port with nothing listening: take one and close it.
  const closed = await new Promise<number>((resolve) => {
    const s: Server = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
  // A greeting of 421 from a raw server.
  const tempfail = createServer((sock) => sock.end('421 4.3.2 mx2.dest.test busy, try later\r\n'));
  await new Promise<void>((r) => tempfail.listen(0, '127.0.0.1', r));
  const tfPort = (tempfail.address() as { port: number }).port;
  const resolver = testResolver(
    { 'dest.test': [{ exchange: 'mx3.dest.test', preference: 30 }, { exchange: 'mx1.dest.test', preference: 10 }, { exchange: 'mx2.dest.test', preference: 20 }] },
    { 'mx1.dest.test': local(closed), 'mx2.dest.test': local(tfPort), 'mx3.dest.test': local(good.port) },
  );
  const c = testClient('smtp_mx_session_limit = 3', resolver);
  try {
    const { results, down } = await c.deliver({});
    assert.equal(down, false);
    assert.equal(results[0]!.status, 'sent', JSON.stringify(results));
    assert.equal(results[0]!.reason, '250 Ok: queued as TESTID');
    assert.equal(results[0]!.relay, `mx3.dest.test[127.0.0.1]:${good.port}`);
    assert.deepEqual(resolver.queries, ['MX dest.test', 'A mx1.dest.test', 'A mx2.dest.test', 'A mx3.dest.test']);
    assert.equal(good.received.length, 1);
    assert.equal(busy.received.length, 0);
  } finally {
    c.close();
    tempfail.close();
    await good.close();
    await busy.close();
  }
});

test('every server down: deferred with "connect to ...: Connection refused" and the destination reported down', async () => {
  const closed = await new Promise<number>((resolve) => {
    const s: Server = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
  const c = testClient('', testResolver({}, { 'dest.test': local(closed) }));
  try {
    const { results, down } = await c.deliver({});
    assert.equal(down, true);
    assert.deepEqual([results[0]!.status, results[0]!.dsn, results[0]!.reason], ['deferred', '4.4.1', `connect to dest.test[127.0.0.1]:${closed}: Connection refused`]);
    const nx = await c.deliver({ nexthop: 'nowhere.test' });
    assert.deepEqual([nx.results[0]!.status, nx.results[0]!.dsn], ['bounced', '5.4.4']);
    assert.match(nx.results[0]!.reason, /Host or domain name not found. Name service error for name=nowhere.test type=MX: Host not found/);
  } finally {
    c.close();
  }
});

test('mixed per-recipient results in one transaction: 250, 450, 550', async () => {
  const srv = await testServer({
    rcpt: (a) => (a.startsWith('no') ? smtpError(550, '5.1.1 <' + a + '>: Recipient address rejected: unknown') : a.startsWith('later') ? smtpError(450, '4.2.0 <' + a + '>: greylisted') : undefined),
  });
  const c = testClient('', testResolver({}, { 'dest.test': local(srv.port) }));
  try {
    const { results } = await c.deliver({
      recipients: [
        { index: 0, address: 'yes@dest.test' },
        { index: 1, address: 'no@dest.test' },
        { index: 2, address: 'later@dest.test' },
      ],
    });
    assert.deepEqual(results.map((r) => [r.status, r.dsn]), [['sent', '2.0.0'], ['bounced', '5.1.1'], ['deferred', '4.2.0']]);
    assert.equal(results[1]!.reason, `host dest.test[127.0.0.1] said: 550 5.1.1 <no@dest.test>: Recipient address rejected: unknown (in reply to RCPT TO command)`);
    assert.equal(results[1]!.diagnostic, 'smtp; 550 5.1.1 <no@dest.test>: Recipient address rejected: unknown');
    assert.equal(results[1]!.remoteMta, 'dns; dest.test');
    assert.deepEqual(srv.received[0]!.to, ['yes@dest.test']);
  } finally {
    c.close();
    await srv.close();
  }
});

test('[host]:port skips the MX lookup; host:port looks it up', async () => {
  const srv = await testServer();
  const resolver = testResolver({ 'dom.test': [{ exchange: 'mx.dom.test', preference: 10 }] }, { 'relay.test': local(srv.port), 'mx.dom.test': local(srv.port) });
  const c = testClient('', resolver);
  try {
    const a = await c.deliver({ nexthop: `[relay.test]:${srv.port}` });
    assert.equal(a.results[0]!.status, 'sent');
    assert.deepEqual(resolver.queries, ['A relay.test']);
    resolver.queries.length = 0;
    const b = await c.deliver({ nexthop: 'dom.test:2525' });
    assert.equal(b.results[0]!.status, 'sent');
    assert.deepEqual(resolver.queries, ['MX dom.test', 'A mx.dom.test']);
  } finally {
    c.close();
    await srv.close();
  }
});

test('SIZE: a message over the server limit is bounced without sending it', async () => {
  const srv = await testServer({ size: 100 });
  const c = testClient('', testResolver({}, { 'dest.test': local(srv.port) }));
  try {
    const body = `Subject: big\n\n${'x'.repeat(300)}\n`;
    const { results } = await c.deliver({}, body);
    assert.deepEqual([results[0]!.status, results[0]!.dsn], ['bounced', '5.3.4']);
    assert.equal(results[0]!.reason, `message size ${body.length} exceeds size limit 100 of server dest.test[127.0.0.1]`);
    assert.equal(srv.received.length, 0);
  } finally {
    c.close();
    await srv.close();
  }
});

test('8BITMIME: 8-bit text goes out quoted-printable to a server without it, and as is with BODY=8BITMIME to one with it', async () => {
  const no8 = await testServer({ hide8BITMIME: true });
  const yes8 = await testServer();
  const content = Buffer.from('Subject: caf\u00e9\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nCaf\u00e9 cr\u00e8me = ok\n', 'utf8');
  const c = testClient('', testResolver({}, { 'a.test': local(no8.port), 'b.test': local(yes8.port) }));
  try {
    assert.equal((await c.deliver({ nexthop: 'a.test', bodyType: '8BITMIME' }, content)).results[0]!.status, 'sent');
    const got = no8.received[0]!.data.toString('latin1');
    assert.match(got, /Content-Transfer-Encoding: quoted-printable\r\n/);
    assert.match(got, /\r\n\r\nCaf=C3=A9 cr=C3=A8me =3D ok\r\n/);
    assert.ok(![...no8.received[0]!.data.subarray(got.indexOf('\r\n\r\n'))].some((b) => b > 127));
    assert.equal(no8.received[0]!.mailArgs.BODY, undefined);
    assert.equal((await c.deliver({ nexthop: 'b.test', bodyType: '8BITMIME' }, content)).results[0]!.status, 'sent');
    assert.equal(yes8.received[0]!.mailArgs.BODY, '8BITMIME');
    assert.ok(yes8.received[0]!.data.includes(Buffer.from('Caf\u00e9', 'utf8')));
  } finally {
    c.close();
    await no8.close();
    await yes8.close();
  }
});

test('downgrade8bit: only 8-bit leaf parts of a multipart are converted', () => {
  const msg = Buffer.from(
    'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="b1"\n\n--b1\nContent-Type: text/plain\n\nplain ascii\n--b1\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n\u00fcber\n--b1--\n',
    'utf8',
  );
  const out = downgrade8bit(msg).toString('latin1');
  assert.match(out, /--b1\nContent-Type: text\/plain\n\nplain ascii\n--b1\n/);
  assert.match(out, /Content-Transfer-Encoding: quoted-printable\n\n=C3=BCber\n--b1--\n/);
});

test('SMTPUTF8: bounced when required and not offered, sent with SMTPUTF8 when offered', async () => {
  const without = await testServer({ hideSMTPUTF8: true });
  const withIt = await testServer();
  const c = testClient('', testResolver({}, { 'a.test': local(without.port), 'b.test': local(withIt.port) }));
  try {
    const a = await c.deliver({ nexthop: 'a.test', smtputf8: true, sender: 'j\u00f6rg@origin.test' });
    assert.deepEqual([a.results[0]!.status, a.results[0]!.dsn, a.results[0]!.reason], ['bounced', '5.6.7', 'SMTPUTF8 is required, but was not offered by host a.test[127.0.0.1]']);
    const b = await c.deliver({ nexthop: 'b.test', smtputf8: true });
    assert.equal(b.results[0]!.status, 'sent');
    assert.equal(withIt.received[0]!.mailArgs.SMTPUTF8, true);
  } finally {
    c.close();
    await without.close();
    await withIt.close();
  }
});

test('DSN: RET and ENVID on MAIL FROM, NOTIFY and ORCPT per recipient', async () => {
  const srv = await testServer({ hideDSN: false });
  const c = testClient('', testResolver({}, { 'dest.test': local(srv.port) }));
  try {
    const { results } = await c.deliver({
      dsnRet: 'HDRS',
      dsnEnvid: 'env+id=1',
      recipients: [
        { index: 0, address: 'a@dest.test', notify: ['SUCCESS', 'FAILURE'], orcpt: 'rfc822;orig-a@dest.test' },
        { index: 1, address: 'b@dest.test', notify: ['NEVER'] },
      ],
    });
    assert.deepEqual(results.map((r) => r.status), ['sent', 'sent']);
    const r = srv.received[0]!;
    assert.equal(r.mailArgs.RET, 'HDRS');
    assert.equal(r.mailArgs.ENVID, 'env+id=1');
    assert.equal(r.rcptArgs[0]!.NOTIFY, 'SUCCESS,FAILURE');
    assert.equal(r.rcptArgs[0]!.ORCPT, 'rfc822;orig-a@dest.test');
    assert.equal(r.rcptArgs[1]!.NOTIFY, 'NEVER');
    assert.equal(r.rcptArgs[1]!.ORCPT, undefined);
  } finally {
    c.close();
    await srv.close();
  }
});

test('smtp_generic_maps: full address, then @domain, in the envelope and the address headers', async () => {
  const srv = await testServer();
  const c = testClient('smtp_generic_maps = texthash:$DIR/generic', testResolver({}, { 'dest.test': local(srv.port) }));
  writeFile(c.dir, 'generic', 'sender@origin.test  public@example.com\n@internal.test  @example.net\n');
  try {
    const { results } = await c.deliver(
      { recipients: [{ index: 0, address: 'bob@internal.test' }] },
      'From: Sender <sender@origin.test>\nTo: bob@internal.test, other@else.test\nSubject: x\n\nsender@origin.test stays in the body\n',
    );
    assert.equal(results[0]!.status, 'sent');
    const r = srv.received[0]!;
    assert.equal(r.from, 'public@example.com');
    assert.deepEqual(r.to, ['bob@example.net']);
    const text = r.data.toString();
    assert.match(text, /^From: Sender <public@example\.com>\r\nTo: bob@example\.net, other@else\.test\r\n/);
    assert.match(text, /sender@origin\.test stays in the body/);
  } finally {
    c.close();
    await srv.close();
  }
});

test('connection reuse: three messages, one connection, conn_use counts up', async () => {
  const srv = await testServer();
  const c = testClient('smtp_connection_cache_time_limit = 5s', testResolver({}, { 'dest.test': local(srv.port) }));
  try {
    const uses: (number | undefined)[] = [];
    for (let i = 0; i < 3; i++) {
      const { results } = await c.deliver({ queueId: `ID${i}` });
      assert.equal(results[0]!.status, 'sent');
      uses.push((results[0] as { connUse?: number }).connUse);
    }
    assert.deepEqual(uses, [1, 2, 3]);
    assert.equal(srv.connections, 1);
    assert.deepEqual(c.client.stats(), { connections: 1, transactions: 3, reused: 2 });
    assert.equal(srv.received.length, 3);
  } finally {
    c.close();
    await srv.close();
  }
});
