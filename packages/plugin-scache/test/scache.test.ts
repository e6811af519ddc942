import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { clientParameters, createSmtpClient, scacheLink, SharedSessionCache, tlsSessionCache, type ClientSession } from '@postern/smtp-client';
import { createConfigView, ParameterRegistry, parseMainCf, SERVICE, servicePath, startServiceInProcess, type AgentContext, type ConfigView, type DeliveryRequest, type Logger, type MessageSource, ServiceClients } from '@postern/core';
import { createTableRegistry } from '@postern/tables';
import { ScacheBooks } from '../src/scache-books.js';
import { PARAMETERS } from '../src/scache-params.js';
import { main as scacheMain } from '../src/scache.js';
import { MemoryLogger as Log } from '@postern/core';

/** The service connections this test opens (each closed by closeClients()). */
const openClients: ServiceClients[] = [];
const clientsOf = (config: ConfigView): ServiceClients => {
  const c = new ServiceClients(config);
  openClients.push(c);
  return c;
};
const closeClients = (): void => openClients.splice(0).forEach((c) => c.close());


/** A minimal SMTP server that counts connections and messages. */
async function sink(): Promise<{ port: number; connections: number; messages: number; server: Server }> {
  const state = { port: 0, connections: 0, messages: 0, server: undefined as unknown as Server };
  state.server = createServer((s) => {
    state.connections++;
    let data = false;
    let buf = '';
    s.write('220 sink.test ESMTP\r\n');
    s.on('data', (d) => {
      buf += d.toString('latin1');
      let i;
      while ((i = buf.indexOf('\r\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 2);
        if (data) {
          if (line === '.') {
            data = false;
            state.messages++;
            s.write('250 2.0.0 Ok: queued\r\n');
          }
          continue;
        }
        const cmd = line.slice(0, 4).toUpperCase();
        if (cmd === 'EHLO') s.write('250-sink.test\r\n250 8BITMIME\r\n');
        else if (cmd === 'DATA') {
          data = true;
          s.write('354 End data with <CR><LF>.<CR><LF>\r\n');
        } else if (cmd === 'QUIT') s.end('221 2.0.0 Bye\r\n');
        else s.write('250 2.0.0 Ok\r\n');
      }
    });
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => state.server.listen(0, '127.0.0.1', r));
  state.port = (state.server.address() as { port: number }).port;
  return state;
}

function makeConfig(dir: string, extra = ''): ConfigView {
  const registry = ParameterRegistry.withCore();
  registry.declare('@postern/plugin-smtp', clientParameters('smtp'));
  registry.declare('@postern/plugin-scache', PARAMETERS);
  return createConfigView({
    registry,
    configDirectory: dir,
    mainCf: parseMainCf(`myhostname = client.test\nmydestination =\nqueue_directory = ${dir}\n${extra}\n`),
  });
}

async function send(client: ReturnType<typeof createSmtpClient>, config: ConfigView, log: Logger, nexthop: string) {
  const body = Buffer.from('Subject: t\n\nx\n');
  const request: DeliveryRequest = {
    queueId: '4ABCDEF012',
    queueName: 'active',
    transport: 'smtp',
    nexthop,
    sender: 's@origin.test',
    recipients: [{ index: 0, address: 'r@dest.test' }],
    arrivalTime: Date.now(),
    size: body.length,
  };
  const message: MessageSource = { queueId: request.queueId, size: body.length, async *stream() { yield body; }, buffer: async () => body };
  const agent: AgentContext = { service: 'smtp', config, log, signal: new AbortController().signal, connected() {}, destinationDown() {} };
  const [r] = await client.deliver(request, message, agent);
  assert.equal(r?.status, 'sent', r?.reason);
}

test('books: hits, misses, TTL cap, Postfix statistics lines', () => {
  let now = Date.parse('2026-10-09T15:15:38');
  const b = new ScacheBooks(2, () => now);
  assert.equal(b.save({ labels: [{ kind: 'dest', label: 'smtp:d' }, { kind: 'endp', label: 'smtp:1.2.3.4:25' }], owner: '10:1', ttl: 300 }).ttl, 2);
  assert.deepEqual(b.find({ kind: 'dest', label: 'smtp:d', pid: 11 }), { hit: false, elsewhere: 1 });
  assert.deepEqual(b.find({ kind: 'dest', label: 'smtp:d', pid: 10, owner: '10:1' }), { hit: true, elsewhere: 0 });
  b.find({ kind: 'endp', label: 'smtp:1.2.3.4:25', pid: 10 });
  b.save({ labels: [{ kind: 'dest', label: 'smtp:d' }], owner: '10:2', ttl: 1 });
  now += 1500;
  b.expire();
  assert.equal(b.size, 0);
  const lines = b.statusDump();
  assert.match(lines[0]!, /^statistics: start interval \w{3} [ \d]\d \d\d:\d\d:\d\d$/);
  assert.deepEqual(lines.slice(1), [
    'statistics: domain lookup hits=1 miss=1 success=50%',
    'statistics: address lookup hits=0 miss=1 success=0%',
    'statistics: max simultaneous domains=1 addresses=1 connection=1',
    'statistics: lookup misses with a session in another process domain=1 address=0',
  ]);
  assert.deepEqual(b.statusDump(), []);
});

test('books: a lookup with want names a session another process parked, once, and turns the miss into a hit', () => {
  const b = new ScacheBooks(0);
  b.save({ labels: [{ kind: 'dest', label: 'smtp:d' }, { kind: 'endp', label: 'smtp:1.2.3.4:25' }], owner: '10:1', ttl: 30 });
  b.save({ labels: [{ kind: 'dest', label: 'smtp:d' }], owner: '11:1', ttl: 30 });
  // process 11 misses locally (its own session is taken), then asks for one parked elsewhere
  assert.deepEqual(b.find({ kind: 'dest', label: 'smtp:d', pid: 11 }), { hit: false, elsewhere: 1 });
  assert.deepEqual(b.find({ kind: 'dest', label: 'smtp:d', pid: 11, want: true }), { hit: true, elsewhere: 0, owner: '10:1' });
  // taken off the books, under both labels: nobody else is sent to it
  assert.deepEqual(b.find({ kind: 'endp', label: 'smtp:1.2.3.4:25', pid: 12, want: true }), { hit: false, elsewhere: 0 });
  assert.deepEqual(b.find({ kind: 'dest', label: 'smtp:d', pid: 11, want: true }), { hit: false, elsewhere: 0 });
  assert.equal(b.size, 1);
  assert.deepEqual(
    b.statusDump().filter((l) => /lookup hits/.test(l)),
    ['statistics: domain lookup hits=1 miss=0 success=100%'],
  );
});

test('N messages to one destination from two smtp processes: connections opened vs messages sent', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'postern-scache-'));
  const server = await sink();
  const log = new Log();
  const config = makeConfig(dir, 'smtp_connection_cache_time_limit = 30s\nconnection_cache_ttl_limit = 30s\nconnection_cache_status_update_time = 3600s');
  const path = servicePath(config, SERVICE.SCACHE);
  mkdirSync(dirname(path), { recursive: true });
  const svc = await startServiceInProcess(scacheMain, {
    entry: { name: SERVICE.SCACHE, type: 'unix', private: true, unprivileged: true, chroot: false, wakeup: 0, wakeupIfUsed: false, maxproc: 1, command: 'scache', args: [], overrides: {}, flags: [], file: 'master.cf', line: 1 },
    config,
    log,
    listen: { path },
  });
  const link = scacheLink(clientsOf(config), log);
  assert.ok(link);
  // two smtp processes: their own session caches (pids 1001 and 1002), one scache
  const procs = [1001, 1002].map((pid) => {
    const cache = new SharedSessionCache<ClientSession>(link, config.time('connection_cache_ttl_limit'), pid);
    return createSmtpClient({ protocol: 'smtp', config, log, tables: createTableRegistry({}), cache, tlsCache: tlsSessionCache(clientsOf(config), 'smtp', log) });
  });
  const N = 20;
  try {
    for (let i = 0; i < N; i++) await send(procs[i % 2]!, config, log, `[127.0.0.1]:${server.port}`);
    const opened = procs.reduce((n, p) => n + p.stats().connections, 0);
    const reused = procs.reduce((n, p) => n + p.stats().reused, 0);
    console.log(`scache measurement: messages=${server.messages} connections=${server.connections} (client count ${opened}, reused ${reused})`);
    assert.equal(server.messages, N);
    assert.equal(server.connections, 2, 'one connection per smtp process');
    assert.equal(opened, 2);
    assert.equal(reused, N - 2);
  } finally {
    for (const p of procs) p.close();
    await new Promise((r) => setTimeout(r, 100));
    closeClients();
    await svc.stop();
    server.server.close();
    rmSync(dir, { recursive: true, force: true });
  }
  const stats = log.lines.filter((l) => l.startsWith('statistics:'));
  assert.ok(stats.includes(`statistics: domain lookup hits=${N - 2} miss=2 success=${Math.floor(((N - 2) * 100) / N)}%`), stats.join('\n'));
  assert.ok(stats.includes('statistics: max simultaneous domains=1 addresses=1 connection=2'), stats.join('\n'));
  assert.ok(stats.some((l) => /^statistics: lookup misses with a session in another process domain=1 /.test(l)), stats.join('\n'));
});
