/**
 * smtp(8) against misbehaving servers (scripted on a raw socket): a stall,
 * a reset in the middle of DATA, garbage replies, an over-long reply line.
 * Each is deferred or bounced with the reason recorded; the delivery agent
 * skeleton then logs it as Postfix does.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { local, testClient, testResolver } from '@postern/testkit';

type Script = (line: string, sock: Socket, state: { data: boolean }) => void;

async function scripted(script: Script, greeting = '220 mx.dest.test ESMTP\r\n'): Promise<{ server: Server; port: number; close(): Promise<void> }> {
  const socks = new Set<Socket>();
  const server = createServer((sock) => {
    socks.add(sock);
    sock.on('error', () => {});
    sock.on('close', () => socks.delete(sock));
    sock.write(greeting);
    const state = { data: false };
    let buf = '';
    sock.on('data', (chunk) => {
      buf += chunk.toString('latin1');
      let i;
      while ((i = buf.indexOf('\r\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 2);
        if (!sock.destroyed) script(line, sock, state);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    server,
    port: (server.address() as { port: number }).port,
    close: () => {
      for (const s of socks) s.destroy();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** A plain ESMTP dialogue; `at` overrides the reply to one command. */
function dialogue(at: Partial<Record<'MAIL' | 'RCPT' | 'DATA' | 'BODY' | 'DOT', (sock: Socket) => void>>): Script {
  return (line, sock, state) => {
    if (state.data) {
      if (line === '.') {
        state.data = false;
        if (at.DOT) at.DOT(sock);
        else sock.write('250 2.0.0 Ok: queued as SCRIPTED\r\n');
      } else if (at.BODY) at.BODY(sock);
      return;
    }
    const verb = line.slice(0, 4).toUpperCase();
    if (verb === 'EHLO') sock.write('250-mx.dest.test\r\n250 8BITMIME\r\n');
    else if (verb === 'MAIL') (at.MAIL ?? ((s) => s.write('250 2.1.0 Ok\r\n')))(sock);
    else if (verb === 'RCPT') (at.RCPT ?? ((s) => s.write('250 2.1.5 Ok\r\n')))(sock);
    else if (verb === 'DATA') {
      if (at.DATA) at.DATA(sock);
      else {
        state.data = true;
        sock.write('354 End data with <CR><LF>.<CR><LF>\r\n');
      }
    } else if (verb === 'RSET') sock.write('250 2.0.0 Ok\r\n');
    else if (verb === 'QUIT') sock.end('221 2.0.0 Bye\r\n');
    else sock.write('502 5.5.2 Error: command not recognized\r\n');
  };
}

const cases: { name: string; script: Script; maincf?: string; body?: string; status: string; dsn: string; reason: string | RegExp }[] = [
  {
    name: 'a server that stalls after MAIL FROM',
    script: dialogue({ MAIL: () => {} }),
    maincf: 'smtp_mail_timeout = 1s',
    status: 'deferred',
    dsn: '4.4.2',
    reason: 'conversation with dest.test[127.0.0.1] timed out while sending MAIL FROM',
  },
  {
    name: 'a server that stalls after the end of data',
    script: dialogue({ DOT: () => {} }),
    maincf: 'smtp_data_done_timeout = 1s',
    status: 'deferred',
    dsn: '4.4.2',
    reason: 'conversation with dest.test[127.0.0.1] timed out while sending end of data -- message may be sent more than once',
  },
  {
    name: 'a reset in the middle of the message body',
    script: dialogue({ BODY: (s) => s.resetAndDestroy() }),
    body: `Subject: big\n\n${'line of text\n'.repeat(200000)}`,
    status: 'deferred',
    dsn: '4.4.2',
    reason: /^lost connection with dest\.test\[127\.0\.0\.1\] while sending (message body|end of data -- message may be sent more than once)$/,
  },
  {
    name: 'a connection closed after DATA',
    script: dialogue({ DATA: (s) => s.destroy() }),
    status: 'deferred',
    dsn: '4.4.2',
    reason: /^lost connection with dest\.test\[127\.0\.0\.1\] while sending (DATA command|message body)$/,
  },
  {
    name: 'a garbage reply to MAIL FROM',
    script: dialogue({ MAIL: (s) => s.write('garbage here\r\n') }),
    status: 'deferred',
    dsn: '4.5.0',
    reason: 'host dest.test[127.0.0.1] said: garbage here (in reply to MAIL FROM command)',
  },
  {
    name: 'an over-long reply line is cut at line_length_limit',
    script: dialogue({ RCPT: (s) => s.write(`550 5.1.1 ${'x'.repeat(10000)}\r\n`) }),
    maincf: 'line_length_limit = 200',
    status: 'bounced',
    dsn: '5.1.1',
    reason: `host dest.test[127.0.0.1] said: 550 5.1.1 ${'x'.repeat(190)} (in reply to RCPT TO command)`,
  },
  {
    name: 'a 5XX reply to the end of data',
    script: dialogue({ DOT: (s) => s.write('554 5.7.1 Message rejected as spam\r\n') }),
    status: 'bounced',
    dsn: '5.7.1',
    reason: 'host dest.test[127.0.0.1] said: 554 5.7.1 Message rejected as spam (in reply to end of DATA command)',
  },
];

for (const c of cases) {
  test(`trouble: ${c.name}`, async () => {
    const srv = await scripted(c.script);
    const client = testClient(c.maincf ?? '', testResolver({}, { 'dest.test': local(srv.port) }));
    try {
      const { results } = await client.deliver({}, c.body);
      assert.equal(results[0]!.status, c.status, JSON.stringify(results[0]));
      assert.equal(results[0]!.dsn, c.dsn);
      if (typeof c.reason === 'string') assert.equal(results[0]!.reason, c.reason);
      else assert.match(results[0]!.reason, c.reason);
    } finally {
      client.close();
      await srv.close();
    }
  });
}

test('trouble: a 5XX greeting moves on to the next MX, as Postfix does', async () => {
  const bad = await scripted(dialogue({}), '554 5.7.1 mx1 says go away\r\n');
  const good = await scripted(dialogue({}));
  const client = testClient(
    '',
    testResolver({ 'dest.test': [{ exchange: 'mx1.dest.test', preference: 10 }, { exchange: 'mx2.dest.test', preference: 20 }] }, { 'mx1.dest.test': local(bad.port), 'mx2.dest.test': local(good.port) }),
  );
  try {
    const { results } = await client.deliver({});
    assert.equal(results[0]!.status, 'sent');
    assert.equal(results[0]!.relay, `mx2.dest.test[127.0.0.1]:${good.port}`);
    const only = testClient('', testResolver({}, { 'dest.test': local(bad.port) }));
    const r = await only.deliver({});
    only.close();
    assert.deepEqual([r.results[0]!.status, r.results[0]!.dsn, r.results[0]!.reason], ['deferred', '4.7.1', 'host dest.test[127.0.0.1] refused to talk to me: 554 5.7.1 mx1 says go away']);
  } finally {
    client.close();
    await bad.close();
    await good.close();
  }
});
