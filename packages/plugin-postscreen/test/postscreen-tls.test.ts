/**
 * readLine of postscreen's tlsproxy client over a real socket: tlsproxy's
 * result line and the first decrypted bytes of the session often arrive in
 * one read. The line must come back once and the bytes after it must stay
 * for the next reader, unchanged. (Before the fix, pushing them back while
 * still listening re-read them forever, doubling the buffer each time:
 * postscreen grew to gigabytes in the STARTTLS e2e test.)
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { readLine } from '../src/postscreen-tls.js';

describe('postscreen tlsproxy client: readLine', () => {
  let server: Server;
  let port: number;
  let toWrite = '';
  before(async () => {
    server = createServer((c) => {
      c.on('error', () => undefined);
      c.end(toWrite);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as { port: number }).port;
  });
  after(() => server.close());

  async function from(text: string): Promise<Socket> {
    toWrite = text;
    const s = connect(port, '127.0.0.1');
    await once(s, 'connect');
    return s;
  }

  test('two JSON lines and session bytes in one write: each line once, the rest intact for the next reader', async () => {
    const s = await from('{"pid":42}\n{"status":"ok","protocol":"TLSv1.3","cipher":"TLS_AES_256_GCM_SHA384","bits":256}\nEHLO tls.example\r\nMAIL FROM:<a@b>\r\n');
    const rss0 = process.memoryUsage().rss;
    assert.deepEqual(await readLine(s, 5000), { pid: 42 });
    assert.deepEqual(await readLine(s, 5000), { status: 'ok', protocol: 'TLSv1.3', cipher: 'TLS_AES_256_GCM_SHA384', bits: 256 });
    assert.ok(process.memoryUsage().rss - rss0 < 64 * 1024 * 1024);
    // the socket is paused: nothing is lost before the next reader attaches
    await new Promise((r) => setTimeout(r, 50));
    let rest = '';
    s.on('data', (d: Buffer) => (rest += d.toString('latin1')));
    s.resume();
    await once(s, 'end');
    assert.equal(rest, 'EHLO tls.example\r\nMAIL FROM:<a@b>\r\n');
  });

  test('a closed connection before the line rejects', async () => {
    const s = await from('{"pid":4');
    await assert.rejects(readLine(s, 5000), /tlsproxy closed the connection/);
  });

  test('an overlong line rejects without growing', async () => {
    const s = await from('x'.repeat(100_000));
    await assert.rejects(readLine(s, 5000), /overlong/);
    s.destroy();
  });
});
