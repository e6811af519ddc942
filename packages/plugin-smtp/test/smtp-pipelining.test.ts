/**
 * What smtp(8) puts on the wire, seen by a raw server that offers
 * PIPELINING: the envelope and DATA in one write (RFC 2920), the content
 * CRLF-terminated and dot-stuffed, RSET only when a transaction was left
 * open, and the same session carrying the next message.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { smtpData } from '@postern/core';
import { local, testClient, testResolver } from '@postern/testkit';

interface Recorder {
  port: number;
  /** Every chunk the server read, as text. */
  chunks: string[];
  /** Every command line (not content). */
  commands: string[];
  /** Each message's content as received (between DATA and the dot). */
  bodies: string[];
  close(): Promise<void>;
}

/** A server that refuses the recipients in `refuse`, accepts everything else. */
async function recorder(refuse: Set<string> = new Set()): Promise<Recorder> {
  const rec: Omit<Recorder, 'port' | 'close'> = { chunks: [], commands: [], bodies: [] };
  const socks = new Set<Socket>();
  const server = createServer((sock) => {
    socks.add(sock);
    sock.on('close', () => socks.delete(sock));
    sock.on('error', () => undefined);
    sock.write('220 mx.dest.test ESMTP\r\n');
    let buf = '';
    let body: string | undefined;
    let accepted = 0;
    sock.on('data', (chunk: Buffer) => {
      rec.chunks.push(chunk.toString('latin1'));
      buf += chunk.toString('latin1');
      let i;
      while ((i = buf.indexOf('\r\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 2);
        if (body !== undefined) {
          if (line === '.') {
            rec.bodies.push(body);
            body = undefined;
            sock.write('250 2.0.0 Ok: queued\r\n');
          } else body += `${line}\r\n`;
          continue;
        }
        rec.commands.push(line);
        const verb = line.slice(0, 4).toUpperCase();
        if (verb === 'EHLO') sock.write('250-mx.dest.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n');
        else if (verb === 'MAIL') {
          accepted = 0;
          sock.write('250 2.1.0 Ok\r\n');
        } else if (verb === 'RCPT') {
          const addr = /<([^>]*)>/.exec(line)?.[1] ?? '';
          if (refuse.has(addr)) sock.write('550 5.1.1 unknown user\r\n');
          else {
            accepted++;
            sock.write('250 2.1.5 Ok\r\n');
          }
        } else if (verb === 'DATA') {
          if (accepted === 0) sock.write('554 5.5.1 Error: no valid recipients\r\n');
          else {
            body = '';
            sock.write('354 End data with <CR><LF>.<CR><LF>\r\n');
          }
        } else if (verb === 'RSET') sock.write('250 2.0.0 Ok\r\n');
        else if (verb === 'QUIT') sock.end('221 2.0.0 Bye\r\n');
        else sock.write('502 5.5.2 Error: command not recognized\r\n');
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    ...rec,
    port: (server.address() as { port: number }).port,
    close: () => {
      for (const s of socks) s.destroy();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

test('smtpData: CRLF line ends, dot-stuffing, a final line without a newline, the end-of-data dot', () => {
  const wire = (text: string) => smtpData(Buffer.from(text, 'latin1')).toString('latin1');
  assert.equal(wire('a\nb\n'), 'a\r\nb\r\n.\r\n');
  assert.equal(wire('a\r\nb\r\n'), 'a\r\nb\r\n.\r\n');
  assert.equal(wire('.top\n..two\nmid.dle\n.\n'), '..top\r\n...two\r\nmid.dle\r\n..\r\n.\r\n');
  assert.equal(wire('no newline'), 'no newline\r\n.\r\n');
  assert.equal(wire('\n\n'), '\r\n\r\n.\r\n');
  assert.equal(wire(''), '.\r\n');
});

test('PIPELINING: MAIL, RCPT and DATA in one write; the content dot-stuffed; no RSET after a completed transaction', async () => {
  const srv = await recorder();
  const client = testClient('', testResolver({}, { 'dest.test': local(srv.port) }));
  try {
    const content = 'Subject: dots\n\n.leading dot\nplain\n..two dots\n';
    const first = await client.deliver({ recipients: [{ index: 0, address: 'a@dest.test' }, { index: 1, address: 'b@dest.test' }] }, content);
    assert.deepEqual(first.results.map((r) => r.status), ['sent', 'sent']);
    const second = await client.deliver({}, 'Subject: two\n\nsecond\n');
    assert.equal(second.results[0]!.status, 'sent');
    assert.ok(
      srv.chunks.includes('MAIL FROM:<sender@origin.test>\r\nRCPT TO:<a@dest.test>\r\nRCPT TO:<b@dest.test>\r\nDATA\r\n'),
      `the envelope went out in one write: ${JSON.stringify(srv.chunks)}`,
    );
    assert.equal(srv.bodies[0], 'Subject: dots\r\n\r\n..leading dot\r\nplain\r\n...two dots\r\n');
    assert.deepEqual(
      srv.commands.map((c) => c.split(/[ :]/)[0]),
      ['EHLO', 'MAIL', 'RCPT', 'RCPT', 'DATA', 'MAIL', 'RCPT', 'DATA'],
      'one session, and no RSET after the end-of-data reply',
    );
  } finally {
    client.close();
    await srv.close();
  }
});

test('PIPELINING: every recipient refused: their replies decide, DATA is refused by the server, and RSET precedes the next transaction', async () => {
  const srv = await recorder(new Set(['nobody@dest.test']));
  const client = testClient('', testResolver({}, { 'dest.test': local(srv.port) }));
  try {
    const refused = await client.deliver({ recipients: [{ index: 0, address: 'nobody@dest.test' }] });
    assert.deepEqual([refused.results[0]!.status, refused.results[0]!.dsn], ['bounced', '5.1.1']);
    assert.equal(refused.results[0]!.reason, 'host dest.test[127.0.0.1] said: 550 5.1.1 unknown user (in reply to RCPT TO command)');
    const next = await client.deliver({});
    assert.equal(next.results[0]!.status, 'sent');
    assert.deepEqual(
      srv.commands.map((c) => c.split(/[ :]/)[0]),
      ['EHLO', 'MAIL', 'RCPT', 'DATA', 'RSET', 'MAIL', 'RCPT', 'DATA'],
    );
    assert.equal(srv.bodies.length, 1);
  } finally {
    client.close();
    await srv.close();
  }
});
