/**
 * Postern's IPC over real unix sockets: framing, calls, streamed bodies both
 * ways, interim events, timeouts, and coded errors when the peer is gone.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  encodeFrame,
  FRAME,
  FRAME_MAX,
  FrameDecoder,
  IpcClient,
  IpcServer,
  isPosternError,
  sendTrigger,
  TriggerClient,
  type Handlers,
} from '@postern/core';

async function serve(handlers: Handlers, onSocket?: (s: Socket) => void): Promise<{ path: string; server: Server; close(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'postern-ipc-'));
  const path = join(dir, 'svc');
  const ipc = new IpcServer('test', handlers);
  const server = createServer((s) => (onSocket ? onSocket(s) : ipc.accept(s)));
  await new Promise<void>((r) => server.listen(path, r));
  return {
    path,
    server,
    close: () => new Promise((r) => server.close(() => (rmSync(dir, { recursive: true, force: true }), r()))),
  };
}

test('frames split across reads are put back together; an oversized frame is refused', () => {
  const frames: { kind: number; id: number; payload: string }[] = [];
  const dec = new FrameDecoder('peer');
  const bytes = Buffer.concat([encodeFrame(FRAME.CALL, 7, '{"m":"x"}'), encodeFrame(FRAME.DATA, 7, Buffer.from('abc')), encodeFrame(FRAME.END, 7)]);
  for (let i = 0; i < bytes.length; i += 3) dec.push(bytes.subarray(i, i + 3), (f) => frames.push({ kind: f.kind, id: f.id, payload: f.payload.toString() }));
  assert.deepEqual(frames, [
    { kind: FRAME.CALL, id: 7, payload: '{"m":"x"}' },
    { kind: FRAME.DATA, id: 7, payload: 'abc' },
    { kind: FRAME.END, id: 7, payload: '' },
  ]);
  const huge = Buffer.alloc(9);
  huge.writeUInt32BE(FRAME_MAX + 1, 0);
  assert.throws(() => new FrameDecoder('peer').push(huge, () => undefined), (e) => isPosternError(e, 'POSTERN_ERR_IPC_FRAME_SIZE'));
});

test('frames come out the same however the stream is cut, and a whole frame is not copied', () => {
  const sizes = [0, 1, 3, 100, 70_000, 5, 200_000, 2];
  const sent = sizes.map((n, i) => ({ kind: i % 2 ? FRAME.DATA : FRAME.EVENT, id: i + 1, payload: Buffer.alloc(n, 97 + i) }));
  const bytes = Buffer.concat(sent.map((f) => encodeFrame(f.kind, f.id, f.payload)));
  let seed = 11;
  const random = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2147483648), seed % n);
  for (const step of [1, 2, 4, 9, 4096, 65536, 0]) {
    const got: { kind: number; id: number; payload: Buffer }[] = [];
    const dec = new FrameDecoder('peer');
    for (let i = 0; i < bytes.length; ) {
      const n = step || 1 + random(80_000);
      dec.push(bytes.subarray(i, i + n), (f) => got.push({ kind: f.kind, id: f.id, payload: Buffer.from(f.payload) }));
      i += n;
    }
    assert.deepEqual(got, sent, `cut every ${step || 'random'} bytes`);
  }
  // one read holding whole frames: the payloads are views of that read
  const one = Buffer.concat([encodeFrame(FRAME.DATA, 1, Buffer.from('hello')), encodeFrame(FRAME.DATA, 1, Buffer.from('world'))]);
  const views: Buffer[] = [];
  new FrameDecoder('peer').push(one, (f) => views.push(f.payload));
  const inside = (v: Buffer) => v.buffer === one.buffer && v.byteOffset >= one.byteOffset && v.byteOffset + v.length <= one.byteOffset + one.length;
  assert.deepEqual(views.map((v) => [v.toString(), inside(v)]), [['hello', true], ['world', true]]);
});

test('calls are multiplexed; bodies stream both ways; events arrive before the reply', async () => {
  const svc = await serve({
    add: (a: { x: number; y: number }) => a.x + a.y,
    count: async (_a, call) => {
      let n = 0;
      for await (const chunk of call.body) n += chunk.length;
      return n;
    },
    echo: async (_a, call) => {
      await call.emit({ stage: 'started' });
      for await (const chunk of call.body) await call.send(chunk);
      return 'done';
    },
  });
  const client = new IpcClient('test', svc.path);
  try {
    const big = Buffer.alloc(1024 * 1024 + 17, 0x61);
    const [sum, count] = await Promise.all([client.call('add', { x: 2, y: 3 }), client.call('count', undefined, { body: big })]);
    assert.equal(sum, 5);
    assert.equal(count, big.length);
    const events: unknown[] = [];
    const echoed: Buffer[] = [];
    async function* body() {
      yield Buffer.from('hello ');
      yield Buffer.from('world');
    }
    const r = await client.call('echo', undefined, { body: body(), onEvent: (e) => events.push(e), onData: (d) => echoed.push(d) });
    assert.equal(r, 'done');
    assert.deepEqual(events, [{ stage: 'started' }]);
    assert.equal(Buffer.concat(echoed).toString(), 'hello world');
    await assert.rejects(client.call('nosuch'), /unknown method "nosuch"/);
  } finally {
    client.close();
    await svc.close();
  }
});

test('an event handler that returns a promise holds the connection: the service waits instead of the client buffering', async () => {
  const total = 20_000;
  let emitted = 0;
  const svc = await serve({
    stream: async (_a, call) => {
      const row = 'x'.repeat(1000);
      for (let i = 0; i < total; i++) {
        await call.emit({ i, row });
        emitted++;
      }
      return emitted;
    },
  });
  const client = new IpcClient('test', svc.path);
  try {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let received = 0;
    const done = client.call<number>('stream', undefined, { onEvent: () => (++received === 1 ? held : undefined) });
    await new Promise((r) => setTimeout(r, 300));
    // 20 MB of events: the socket buffers hold a small part of it while the first event is held
    assert.ok(emitted < total / 2, `the service emitted ${emitted} of ${total} while the client held the first`);
    release();
    assert.equal(await done, total);
    assert.equal(received, total);
  } finally {
    client.close();
    await svc.close();
  }
});

test('a call with no answer times out with a coded error; the connection stays usable', async () => {
  const svc = await serve({ never: () => new Promise(() => undefined), ping: () => 'pong' });
  const client = new IpcClient('test', svc.path, { timeout: 200 });
  try {
    await assert.rejects(client.call('never'), (e) => isPosternError(e, 'POSTERN_ERR_IPC_TIMEOUT') && /no reply to never/.test(e.message));
    assert.equal(await client.call('ping'), 'pong');
  } finally {
    client.close();
    await svc.close();
  }
});

test('a peer that goes away fails the calls in flight; a missing service fails to connect', async () => {
  const svc = await serve({}, (s) => s.once('data', () => s.destroy()));
  const client = new IpcClient('test', svc.path);
  try {
    await assert.rejects(client.call('anything'), (e) => isPosternError(e, 'POSTERN_ERR_IPC_PEER_GONE') && /closed the connection with 1 request/.test(e.message));
  } finally {
    client.close();
    await svc.close();
  }
  const nobody = new IpcClient('cleanup', join(tmpdir(), 'postern-no-such-socket'));
  await assert.rejects(nobody.call('submit'), (e) => isPosternError(e, 'POSTERN_ERR_IPC_CONNECT') && /cleanup service/.test(e.message));
});

test('an idempotent call is made again on a new connection when the service died before it answered; others fail', async () => {
  let connections = 0;
  const ipc = new IpcServer('test', { add: (a: { x: number; y: number }) => a.x + a.y });
  // the first connection of each pair dies at the first request (a service killed mid-call)
  const svc = await serve({}, (s) => (connections++ % 2 === 0 ? s.once('data', () => s.destroy()) : ipc.accept(s)));
  const client = new IpcClient('test', svc.path);
  try {
    assert.equal(await client.call('add', { x: 2, y: 3 }, { idempotent: true }), 5);
    assert.equal(connections, 2, 'made again on a second connection');
    client.close();
    // a call that is not idempotent is not made twice: the third connection dies with it
    await assert.rejects(client.call('add', { x: 1, y: 1 }), (e) => isPosternError(e, 'POSTERN_ERR_IPC_PEER_GONE'));
    assert.equal(connections, 3);
  } finally {
    client.close();
    await svc.close();
  }
});

test('a body producer that fails cancels the call on the server', async () => {
  let aborted = false;
  const svc = await serve({
    slow: async (_a, call) => {
      // the cancellation may arrive before the handler runs: the signal is then already aborted
      if (call.signal.aborted) aborted = true;
      call.signal.addEventListener('abort', () => (aborted = true));
      try {
        for await (const _ of call.body);
      } catch {
        /* cancelled */
      }
      return 'unreachable';
    },
  });
  const client = new IpcClient('test', svc.path);
  try {
    async function* failing() {
      yield Buffer.from('partial');
      throw new Error('client went away mid-DATA');
    }
    await assert.rejects(client.call('slow', undefined, { body: failing() }), /client went away/);
    for (let i = 0; i < 50 && !aborted; i++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(aborted, 'the server saw the cancellation');
  } finally {
    client.close();
    await svc.close();
  }
});

test('triggers: single bytes to a trigger service, coalesced while a write is pending', async () => {
  const got: string[] = [];
  const svc = await serve({}, (s) => s.on('data', (d) => got.push(d.toString())));
  try {
    await sendTrigger('qmgr', svc.path, 'W');
    const t = new TriggerClient('qmgr', svc.path);
    t.trigger('I');
    t.trigger('I');
    t.trigger('D');
    for (let i = 0; i < 100 && got.join('').length < 3; i++) await new Promise((r) => setTimeout(r, 10));
    t.close();
    assert.equal(got.join(''), 'WID');
  } finally {
    await svc.close();
  }
});
