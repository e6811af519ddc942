/**
 * smtp_send_xforward_command (XFORWARD_README): the client names the
 * message's original client to a server that offers XFORWARD, as a
 * content filter's return path needs; nothing is sent when the parameter
 * is off or the server does not offer it. Server: smtp-server (useXForward)
 * on loopback, which records what it was told.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { local, testClient, testResolver, testServer } from '@postern/testkit';

const client = { name: 'mx.client.example', address: '203.0.113.5', port: 4711, helo: 'helo name.example', protocol: 'ESMTP', log: 'mx.client.example[203.0.113.5]' };

test('smtp_send_xforward_command = yes: XFORWARD with the original client before MAIL; SOURCE=LOCAL for local submission', async () => {
  const server = await testServer({ useXForward: true });
  const c = testClient('smtp_send_xforward_command = yes', testResolver({}, { 'dest.test': local(server.port) }));
  try {
    const { results } = await c.deliver({ client, nexthop: '[dest.test]' });
    assert.equal(results[0]!.status, 'sent', JSON.stringify(results));
    // smtp-server hands PORT over as a number
    assert.deepEqual(server.received[0]!.xforward, {
      NAME: 'mx.client.example', ADDR: '203.0.113.5', PORT: 4711 as unknown as string, PROTO: 'ESMTP', HELO: 'helo name.example', IDENT: '4ABCDEF012', SOURCE: 'REMOTE',
    });
    // a locally submitted message (protocol LOCAL); smtp-server forgets EHLO after an XFORWARD
    // with HELO=[UNAVAILABLE] (Postern's smtpd does not), so a HELO is named here
    const { results: r2 } = await c.deliver({ nexthop: '[dest.test]', queueId: '4LOCAL0001', client: { name: 'localhost', address: '127.0.0.1', helo: 'localhost', protocol: 'LOCAL' } });
    assert.equal(r2[0]!.status, 'sent');
    const x = server.received[1]!.xforward!;
    assert.equal(x.IDENT, '4LOCAL0001');
    assert.equal(x.SOURCE, 'LOCAL');
  } finally {
    c.close();
    await server.close();
  }
});

test('smtp_send_xforward_command = no (default), or a server without XFORWARD: no XFORWARD', async () => {
  const offering = await testServer({ useXForward: true });
  const plain = await testServer();
  const off = testClient('', testResolver({}, { 'dest.test': local(offering.port) }));
  const on = testClient('smtp_send_xforward_command = yes', testResolver({}, { 'dest.test': local(plain.port) }));
  try {
    assert.equal((await off.deliver({ client, nexthop: '[dest.test]' })).results[0]!.status, 'sent');
    assert.equal(offering.received[0]!.xforward, undefined);
    assert.equal((await on.deliver({ client, nexthop: '[dest.test]' })).results[0]!.status, 'sent');
    assert.equal(plain.received[0]!.xforward, undefined);
  } finally {
    off.close();
    on.close();
    await offering.close();
    await plain.close();
  }
});
