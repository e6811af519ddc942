/**
 * XFORWARD (XFORWARD_README) from a client in smtpd_authorized_xforward_hosts,
 * as a content filter gives mail back: the EHLO keyword, the attributes
 * (xtext, [UNAVAILABLE]), "client=..., orig_queue_id=..., orig_client=..."
 * in the log, the original client as the queue file's client attributes,
 * the Received: header still naming the real peer, and the reset at the end
 * of the mail transaction. Refusals: an unauthorized client, a bad
 * attribute, XFORWARD inside a transaction. Clients: raw sockets from
 * 127.0.0.1 (authorized) and 127.0.0.2 (not).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RawClient, startRig } from './helpers.js';

const KEYWORD = 'XFORWARD NAME ADDR PROTO HELO SOURCE PORT IDENT';

test('XFORWARD from an authorized host: orig_client/orig_queue_id logged, the queue file gets the original client, reset after the transaction', async () => {
  const rig = await startRig({ smtpd_authorized_xforward_hosts: '127.0.0.1/32' });
  try {
    const c = await RawClient.open(rig.port);
    await c.reply();
    assert.ok((await c.cmd('EHLO filter.example'))!.split('\n').includes(`250-${KEYWORD}`));
    assert.equal(await c.cmd('XFORWARD NAME=mx.client.example ADDR=203.0.113.5 PORT=4711'), '250 2.0.0 Ok');
    assert.equal(await c.cmd('XFORWARD PROTO=ESMTP HELO=helo+20name.example IDENT=4bQk2x1Zq3z9 SOURCE=REMOTE'), '250 2.0.0 Ok');
    assert.equal(await c.cmd('MAIL FROM:<alice@client.example>'), '250 2.1.0 Ok');
    assert.equal(await c.cmd('XFORWARD NAME=late.example'), '503 5.5.1 Error: MAIL transaction in progress');
    assert.equal(await c.cmd('RCPT TO:<bob@example.com>'), '250 2.1.5 Ok');
    assert.equal(await c.cmd('DATA'), '354 End data with <CR><LF>.<CR><LF>');
    assert.match((await c.cmd('Subject: filtered\r\n\r\nbody\r\n.'))!, /^250 2\.0\.0 Ok: queued as /);
    const first = rig.cleanup.submitted.at(-1)!;
    assert.deepEqual(first.request.client, {
      name: 'mx.client.example', address: '203.0.113.5', port: 4711, helo: 'helo name.example', protocol: 'ESMTP', log: 'mx.client.example[203.0.113.5]',
    });
    assert.match(first.content, /^Received: from filter\.example \(unknown \[127\.0\.0\.1\]\)\n/);
    assert.ok(
      rig.log.lines.some((l) => l === `${first.request.queueId ?? first.queueId}: client=unknown[127.0.0.1], orig_queue_id=4bQk2x1Zq3z9, orig_client=mx.client.example[203.0.113.5]`),
      rig.log.lines.join('\n'),
    );

    // the next transaction of the session starts without the forwarded attributes
    assert.equal(await c.cmd('MAIL FROM:<carol@client.example>'), '250 2.1.0 Ok');
    assert.equal(await c.cmd('RCPT TO:<bob@example.com>'), '250 2.1.5 Ok');
    await c.cmd('DATA');
    assert.match((await c.cmd('Subject: second\r\n\r\nbody\r\n.'))!, /^250 /);
    const second = rig.cleanup.submitted.at(-1)!;
    assert.equal(second.request.client?.log, 'unknown[127.0.0.1]');

    // [UNAVAILABLE] clears; only an address named: the name is "unknown"
    assert.equal(await c.cmd('XFORWARD NAME=[UNAVAILABLE] ADDR=IPv6:2001:db8::25'), '250 2.0.0 Ok');
    await c.cmd('MAIL FROM:<dave@client.example>');
    await c.cmd('RCPT TO:<bob@example.com>');
    await c.cmd('DATA');
    assert.match((await c.cmd('Subject: third\r\n\r\nbody\r\n.'))!, /^250 /);
    assert.equal(rig.cleanup.submitted.at(-1)!.request.client?.log, 'unknown[2001:db8::25]');

    assert.equal(await c.cmd('XFORWARD'), '501 5.5.4 Syntax: XFORWARD attribute=value...');
    assert.equal(await c.cmd('XFORWARD ADDR=not-an-address'), '501 5.5.4 Bad ADDR syntax: not-an-address');
    assert.equal(await c.cmd('XFORWARD COLOR=blue'), '501 5.5.4 Bad XFORWARD attribute name: COLOR');
    assert.equal(await c.cmd('XFORWARD NAME=a+2'), '501 5.5.4 Error: bad syntax: NAME=a+2');
    await c.cmd('QUIT');
  } finally {
    await rig.stop();
  }
});

test('XFORWARD from a host not in smtpd_authorized_xforward_hosts: not offered, 550 5.7.0', async () => {
  const rig = await startRig({ smtpd_authorized_xforward_hosts: '127.0.0.1/32' });
  try {
    const c = await RawClient.open(rig.port, '127.0.0.2');
    await c.reply();
    assert.ok(!(await c.cmd('EHLO outsider.example'))!.includes('XFORWARD'));
    assert.equal(await c.cmd('XFORWARD ADDR=203.0.113.5'), '550 5.7.0 Error: insufficient authorization');
    assert.equal(await c.cmd('MAIL FROM:<eve@outsider.example>'), '250 2.1.0 Ok');
    await c.cmd('QUIT');
  } finally {
    await rig.stop();
  }
});
