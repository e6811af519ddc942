/**
 * tlsproxy(8)'s relay over real sockets: a caller (postscreen's role) on a
 * unix socket, a remote SMTP client on TCP whose accepted socket is given to
 * the proxy as master relays it, and the client's TLS handshake with Node's
 * TLS client. The relay must carry bytes both ways intact (also the bytes
 * that follow the result line in the same read), close both sides when
 * either one goes, and hold no more than socket buffers when one peer stops
 * reading (backpressure): the runaway this guards against grew tlsproxy and
 * postscreen to gigabytes.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, createSecureContext, type TLSSocket } from 'node:tls';
import { MemoryLogger, type TlsproxyRequest, type TlsproxyResult } from '@postern/core';
import { TlsProxy } from '../src/tlsproxy.js';

const MiB = 1024 * 1024;

/** Reads one line from `sock`; what follows it is pushed back (paused). */
function line(sock: Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const onData = (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      const nl = buf.indexOf(0x0a);
      if (nl < 0) return;
      sock.off('data', onData);
      sock.off('close', onClose);
      sock.pause();
      if (nl + 1 < buf.length) sock.unshift(buf.subarray(nl + 1));
      resolve(buf.subarray(0, nl).toString('utf8').replace(/\r$/, ''));
    };
    const onClose = () => reject(new Error('closed before a line'));
    sock.on('data', onData);
    sock.once('close', onClose);
    sock.resume();
  });
}

/** Writes `chunk` until the peer stops taking it (no 'drain' within `quietMs`) or `max` bytes; returns the bytes written. */
async function writeUntilStalled(sock: Socket, chunk: Buffer, max: number, quietMs: number): Promise<number> {
  let written = 0;
  while (written < max) {
    written += chunk.length;
    if (!sock.write(chunk)) {
      const drained = await Promise.race([once(sock, 'drain').then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), quietMs))]);
      if (!drained) break;
    }
  }
  return written;
}

interface Session {
  caller: Socket;
  client: TLSSocket;
  raw: Socket;
  result: TlsproxyResult;
}

describe('tlsproxy relay', () => {
  let dir: string;
  let proxy: TlsProxy;
  let log: MemoryLogger;
  let ipc: Server;
  let front: Server;
  let frontPort: number;
  let ipcPath: string;
  const accepted: Socket[] = [];
  const open: Socket[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'postern-tlsproxy-'));
    const cert = join(dir, 'cert.pem');
    const key = join(dir, 'key.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=mail.example.test'], { stdio: 'ignore' });
    log = new MemoryLogger();
    proxy = new TlsProxy(createSecureContext({ cert: readFileSync(cert), key: readFileSync(key) }), log, 1, 10_000);
    ipcPath = join(dir, 'tlsproxy');
    ipc = createServer((conn) => proxy.accept(conn));
    ipc.listen(ipcPath);
    await once(ipc, 'listening');
    front = createServer({ pauseOnConnect: true }, (s) => accepted.push(s));
    front.listen(0, '127.0.0.1');
    await once(front, 'listening');
    frontPort = (front.address() as { port: number }).port;
  });
  after(() => {
    for (const s of [...open, ...accepted]) s.destroy();
    ipc?.close();
    front?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Caller request, relay of the accepted client socket, the client's handshake; `onSecure` runs at secureConnect. */
  async function session(onSecure?: (t: TLSSocket) => void): Promise<Session> {
    const raw = connect(frontPort, '127.0.0.1');
    open.push(raw);
    await once(raw, 'connect');
    while (accepted.length === 0) await new Promise((r) => setImmediate(r));
    const server = accepted.shift()!;
    const caller = connect(ipcPath);
    open.push(caller);
    await once(caller, 'connect');
    const nonce = randomUUID();
    const req: TlsproxyRequest = { nonce, role: 'server', remote: `[127.0.0.1]:${raw.localPort}`, service: 'postscreen', reply: '220 2.0.0 Ready to start TLS' };
    caller.write(`${JSON.stringify(req)}\n`);
    const hello = JSON.parse(await line(caller)) as { pid: number };
    assert.equal(hello.pid, process.pid);
    proxy.relayed({ tlsproxy: nonce }, server);
    assert.equal(await line(raw), '220 2.0.0 Ready to start TLS');
    const client = tlsConnect({ socket: raw, rejectUnauthorized: false, servername: 'mail.example.test' });
    open.push(client);
    client.on('error', () => undefined);
    await once(client, 'secureConnect');
    onSecure?.(client);
    const result = JSON.parse(await line(caller)) as TlsproxyResult;
    return { caller, client, raw, result };
  }

  test('bytes cross both ways intact, also those in the same read as the result line', async () => {
    const s = await session((t) => t.write('EHLO tls.example\r\n'));
    assert.equal(s.result.status, 'ok', JSON.stringify(s.result));
    assert.equal(await line(s.caller), 'EHLO tls.example');
    s.caller.write('250 mail.example.test\r\n');
    assert.equal(await line(s.client as unknown as Socket), '250 mail.example.test');
    assert.ok(log.lines.some((l) => /^Anonymous TLS connection established from \[127\.0\.0\.1\]:\d+: TLSv1\.[23] with cipher \S+ \(\d+\/\d+ bits\)$/.test(l)), log.lines.join('\n'));
    s.caller.end();
    await once(s.client, 'close');
  });

  test('a client that closes mid-session: the caller connection closes, tlsproxy logs DISCONNECT', async () => {
    const s = await session();
    s.caller.resume();
    const port = s.raw.localPort;
    s.raw.destroy();
    await once(s.caller, 'close');
    while (!log.lines.includes(`DISCONNECT [127.0.0.1]:${port}`)) await new Promise((r) => setTimeout(r, 20));
  });

  test('a caller that closes mid-session: the client sees the end of the session', async () => {
    const s = await session();
    s.client.resume();
    s.caller.destroy();
    await once(s.client, 'close');
  });

  test('a client that stops reading: tlsproxy stops reading the caller (bounded), and every byte arrives once it reads', async () => {
    const s = await session();
    s.client.pause();
    const rss0 = process.memoryUsage().rss;
    const written = await writeUntilStalled(s.caller, Buffer.alloc(MiB, 0x61), 256 * MiB, 1500);
    const grown = process.memoryUsage().rss - rss0;
    console.log(`# caller -> stalled client: ${(written / MiB).toFixed(1)} MiB taken before backpressure, rss +${(grown / MiB).toFixed(1)} MiB`);
    assert.ok(written < 32 * MiB, `tlsproxy took ${written} bytes for a client that reads nothing`);
    let got = 0;
    s.client.on('data', (d: Buffer) => (got += d.length));
    s.client.resume();
    s.caller.end();
    await once(s.client, 'end');
    assert.equal(got, written);
  });

  test('a caller that stops reading: tlsproxy stops reading the client (bounded), and every byte arrives once it reads', async () => {
    const s = await session();
    s.caller.pause();
    const written = await writeUntilStalled(s.client as unknown as Socket, Buffer.alloc(MiB, 0x62), 256 * MiB, 1500);
    console.log(`# client -> stalled caller: ${(written / MiB).toFixed(1)} MiB taken before backpressure`);
    assert.ok(written < 32 * MiB, `tlsproxy took ${written} bytes for a caller that reads nothing`);
    let got = 0;
    s.caller.on('data', (d: Buffer) => (got += d.length));
    s.caller.resume();
    s.client.end();
    await once(s.caller, 'end');
    assert.equal(got, written);
  });

  test('a failed handshake: the caller gets status error, both sides close', async () => {
    const raw = connect(frontPort, '127.0.0.1');
    open.push(raw);
    await once(raw, 'connect');
    while (accepted.length === 0) await new Promise((r) => setImmediate(r));
    const server = accepted.shift()!;
    const caller = connect(ipcPath);
    open.push(caller);
    await once(caller, 'connect');
    const nonce = randomUUID();
    caller.write(`${JSON.stringify({ nonce, role: 'server', remote: '[127.0.0.1]:1', service: 'postscreen', reply: '220 2.0.0 Ready to start TLS' })}\n`);
    await line(caller);
    proxy.relayed({ tlsproxy: nonce }, server);
    assert.equal(await line(raw), '220 2.0.0 Ready to start TLS');
    raw.write('EHLO not.tls.example\r\n');
    const result = JSON.parse(await line(caller)) as TlsproxyResult;
    assert.equal(result.status, 'error');
    caller.resume();
    raw.resume();
    await Promise.all([once(caller, 'close'), once(raw, 'close')]);
    assert.ok(log.lines.includes('TLS handshake failed for service=postscreen peer=[127.0.0.1]:1'));
  });
});
