/**
 * qmqpd(8) on a real loopback port, spoken to by a QMQP client written
 * here; cleanup is a stand-in that records what it is given.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer, type Server } from 'node:net';
import {
  createConfigView,
  ParameterRegistry,
  parseMainCf,
  type CleanupRequest,
  type CleanupResult,
  type CleanupService,
  type Logger,
} from '@postern/core';
import { createQmqpd, netstring, QMQPD_PARAMETERS, type Qmqpd } from '../src/index.js';
import { MemoryLogger as TestLog, SERVICE, serviceContainer } from '@postern/core';


class FakeCleanup implements CleanupService {
  readonly got: { request: CleanupRequest; content: string }[] = [];
  next: Partial<CleanupResult> = {};
  private n = 0;
  async submit(request: CleanupRequest, content: AsyncIterable<Buffer>, onQueueId?: (id: string) => void): Promise<CleanupResult> {
    const queueId = `Q${String(++this.n).padStart(10, '0')}`;
    onQueueId?.(queueId);
    let text = '';
    for await (const c of content) text += c.toString();
    this.got.push({ request, content: text });
    const r = { status: 'queued' as const, queueId, code: 250, dsn: '2.0.0', text: `Ok: queued as ${queueId}`, ...this.next };
    this.next = {};
    return r;
  }
}

/** One QMQP exchange: sends `bytes`, returns everything the server said before closing. */
function exchange(port: number, bytes: Buffer | string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    let got = '';
    s.on('data', (d: Buffer) => (got += d.toString()));
    s.on('error', reject);
    s.on('close', () => resolve(got));
    s.write(bytes);
  });
}

function packet(message: string, sender: string, recipients: string[]): Buffer {
  return netstring(Buffer.concat([netstring(message), netstring(sender), ...recipients.map((r) => netstring(r))]));
}

async function server(main: Record<string, string>, cleanup: CleanupService, log: Logger): Promise<{ qmqpd: Qmqpd; srv: Server; port: number }> {
  const registry = ParameterRegistry.withCore();
  registry.declare('@postern/plugin-qmqpd', QMQPD_PARAMETERS);
  const text = Object.entries(main).map(([k, v]) => `${k} = ${v}`).join('\n');
  const config = createConfigView({ mainCf: parseMainCf(text, 'main.cf'), registry, configDirectory: '/nonexistent' });
  const { container } = serviceContainer(config, log, { [SERVICE.CLEANUP]: cleanup });
  const qmqpd = createQmqpd(config, log, container, { lookupName: async (a) => (a === '127.0.0.1' ? 'localhost' : 'unknown') });
  const srv = createServer((s) => qmqpd.accept(s));
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const addr = srv.address();
  return { qmqpd, srv, port: typeof addr === 'object' && addr ? addr.port : 0 };
}

describe('qmqpd', () => {
  const log = new TestLog();
  const cleanup = new FakeCleanup();
  let port: number;
  let srv: Server;
  let qmqpd: Qmqpd;

  before(async () => {
    ({ srv, port, qmqpd } = await server(
      {
        qmqpd_authorized_clients: '!192.0.2.1, 127.0.0.0/8',
        qmqpd_error_delay: '0s',
        message_size_limit: '1000',
        line_length_limit: '100',
        myhostname: 'mail.example.test',
      },
      cleanup,
      log,
    ));
  });
  after(async () => {
    await qmqpd.stop(true);
    await new Promise<void>((r) => srv.close(() => r()));
  });

  test('an accepted message: K reply, envelope and Received: header for cleanup, Postfix log lines', async () => {
    const reply = await exchange(port, packet('Subject: q\n\nhello\n', 'alice@example.test', ['bob@example.test']));
    assert.equal(reply, '26:KOk: queued as Q0000000001,');
    const { request, content } = cleanup.got.at(-1)!;
    assert.equal(request.sender, 'alice@example.test');
    assert.deepEqual(request.recipients, [{ address: 'bob@example.test' }]);
    assert.equal(request.origin, 'qmqpd');
    assert.deepEqual(request.client, { name: 'localhost', address: '127.0.0.1', port: request.client?.port, protocol: 'QMQP', log: 'localhost[127.0.0.1]' });
    assert.match(content, /^Received: from localhost \(localhost \[127\.0\.0\.1\]\)\n\tby mail\.example\.test \(Postern\) with QMQP id Q0000000001\n\tfor <bob@example\.test>; .+\nSubject: q\n\nhello\n$/);
    assert.ok(log.lines.includes('connect from localhost[127.0.0.1]'));
    assert.ok(log.lines.includes('Q0000000001: client=localhost[127.0.0.1]'));
    assert.ok(log.lines.includes('disconnect from localhost[127.0.0.1]'));
  });

  test('two messages on two connections at once', async () => {
    const [a, b] = await Promise.all([
      exchange(port, packet('Subject: a\n\na\n', '', ['x@example.test', 'y@example.test'])),
      exchange(port, packet('Subject: b\n\nb\n', 'b@example.test', ['z@example.test'])),
    ]);
    assert.match(a, /^26:KOk: queued as Q\d{10},$/);
    assert.match(b, /^26:KOk: queued as Q\d{10},$/);
    assert.notEqual(a, b);
    const bounce = cleanup.got.find((g) => g.request.sender === '');
    assert.deepEqual(bounce?.request.recipients.map((r) => r.address), ['x@example.test', 'y@example.test']);
    assert.match(bounce!.content, /with QMQP\n\tid Q\d{10}; /);
  });

  const bad: [string, Buffer | string, RegExp][] = [
    ['a packet header that is not a number', 'x:hello,', /^\d+:DError: netstring format error while receiving QMQP packet header,$/],
    ['a missing comma after the message', '20:5:hello;1:a,3:b@c,', /^\d+:DError: netstring format error while receiving message content,$/],
    ['parts that overrun the packet', `${netstring('x').length + 3}:${netstring('x')}1:a,3:b@c,,`, /^\d+:DError: netstring format error while receiving (sender|recipient) address,$/],
    ['a recipient longer than line_length_limit', packet('m\n', 'a', ['r'.repeat(101)]), /^\d+:DError: netstring length exceeds storage limit while receiving recipient address,$/],
    ['a message larger than message_size_limit', packet('x'.repeat(1001), 'a', ['b@c']), /^\d+:DError: message too large,$/],
    ['no recipients', packet('m\n', 'a', []), /^\d+:DError: no recipients specified,$/],
  ];
  for (const [name, bytes, expect] of bad) {
    test(`bad input gets D and the server goes on: ${name}`, async () => {
      const before = cleanup.got.length;
      assert.match(await exchange(port, bytes), expect);
      assert.equal(cleanup.got.length, before);
      assert.match(await exchange(port, packet('m\n', 'a', ['b@c'])), /KOk: queued as/);
    });
  }

  test('a client that neither reads its answer nor closes is reset once the session is done (the server keeps no connection)', async () => {
    const s = connect(port, '127.0.0.1');
    s.on('error', () => undefined);
    await new Promise<void>((r) => s.once('connect', () => r()));
    s.pause();
    s.write('x:hello,');
    const open = () => new Promise<number>((r) => srv.getConnections((_, n) => r(n)));
    // the reset comes 2 s after the reply (qmqpd_timeout is 300 s here)
    for (let i = 0; i < 100 && (await open()) > 0; i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal(await open(), 0);
    s.destroy();
  });

  test('cleanup answers map to K, Z and D', async () => {
    cleanup.next = { status: 'tempfail', code: 451, dsn: '4.3.0', text: 'queue file write error' };
    assert.match(await exchange(port, packet('m\n', 'a', ['b@c'])), /^\d+:ZError: queue file write error,$/);
    cleanup.next = { status: 'rejected', code: 550, dsn: '5.7.1', text: 'Go away' };
    assert.match(await exchange(port, packet('m\n', 'a', ['b@c'])), /^\d+:DError: Go away,$/);
    cleanup.next = { status: 'discarded' };
    assert.match(await exchange(port, packet('m\n', 'a', ['b@c'])), /^\d+:KOk: queued as Q\d+,$/);
  });

  test('a client that hangs up mid-packet is logged with the stage', async () => {
    await new Promise<void>((resolve) => {
      const s = connect(port, '127.0.0.1', () => s.end('100:5:hel'));
      s.on('close', () => resolve());
      s.resume();
    });
    for (let i = 0; i < 50 && !log.lines.some((l) => l.includes('lost connection')); i++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(log.lines.includes('NOQUEUE: lost connection: localhost[127.0.0.1] while receiving message content'), log.lines.join('\n'));
  });
});

describe('qmqpd_authorized_clients', () => {
  test('a client not in the list gets D and nothing reaches cleanup', async () => {
    const log = new TestLog();
    const cleanup = new FakeCleanup();
    const { srv, port } = await server({ qmqpd_authorized_clients: '192.0.2.0/24, example.com', qmqpd_error_delay: '0s' }, cleanup, log);
    try {
      const reply = await exchange(port, packet('m\n', 'a', ['b@c']));
      assert.equal(reply, `${'DError: localhost[127.0.0.1] is not authorized to use this service'.length}:DError: localhost[127.0.0.1] is not authorized to use this service,`);
      assert.equal(cleanup.got.length, 0);
    } finally {
      await new Promise<void>((r) => srv.close(() => r()));
    }
  });

  test('the default (empty) list authorizes no one; a host name pattern matches the verified name', async () => {
    for (const [list, ok] of [['', false], ['localhost', true], ['!localhost, 127.0.0.1', false], ['[127.0.0.1]', true]] as const) {
      const cleanup = new FakeCleanup();
      const { srv, port } = await server({ qmqpd_authorized_clients: list, qmqpd_error_delay: '0s' }, cleanup, new TestLog());
      try {
        const reply = await exchange(port, packet('m\n', 'a', ['b@c']));
        assert.equal(reply.includes(':K'), ok, `${list}: ${reply}`);
      } finally {
        await new Promise<void>((r) => srv.close(() => r()));
      }
    }
  });
});
