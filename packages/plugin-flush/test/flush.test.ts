/**
 * flush(8) over its real socket: a real LMDB queue, the flush service served
 * in-process on queue_directory/public/flush, the core client (RemoteFlush)
 * calling it, and a stand-in qmgr trigger socket that records what it is told.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync, existsSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createConfigView, createServiceHost, etrnReply, flushClient, isFlushSite, ParameterRegistry, parseMainCf, QUEUE, QUEUE_STORE, provide, startServiceInProcess, type ConfigView, type FlushService, type InProcessService, type Logger, type MasterEntry, ServiceClients, serviceClients } from '@postern/core';
import { openQueueStore, type LmdbQueueStore } from '@postern/queue-lmdb';
import { main } from '../src/flush.js';
import { PARAMETERS } from '../src/flush-params.js';

/** The service connections this test opens (each closed by closeClients()). */
const openClients: ServiceClients[] = [];
const clientsOf = (config: ConfigView): ServiceClients => {
  const c = new ServiceClients(config);
  openClients.push(c);
  return c;
};
const closeClients = (): void => openClients.splice(0).forEach((c) => c.close());

const quiet: Logger = {
  verbose: false,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  fatal: () => undefined,
  panic: () => undefined,
  debug: () => undefined,
  child: () => quiet,
};

const entry: MasterEntry = {
  name: 'flush',
  type: 'unix',
  private: false,
  unprivileged: true,
  chroot: false,
  wakeup: 1000,
  wakeupIfUsed: true,
  maxproc: 0,
  command: 'flush',
  args: [],
  overrides: {},
  flags: [],
  file: 'master.cf',
  line: 1,
};

describe('flush service', () => {
  let dir: string;
  let config: ConfigView;
  let store: LmdbQueueStore;
  let svc: InProcessService;
  let qmgr: Server;
  let client: FlushService;
  const triggers: string[] = [];

  const deferred = async (nextAttempt = Date.now() + 3600_000) => {
    const w = store.createWriter();
    w.write(Buffer.from('Subject: x\n\nbody\n'));
    const m = await w.commit({ sender: 'a@example.com', recipients: [{ address: 'b@example.net' }], arrivalTime: Date.now() }, QUEUE.DEFERRED);
    await store.move(m.id, QUEUE.DEFERRED, { nextAttempt, reason: 'connect to mx.example.net[192.0.2.1]:25: Connection refused' });
    return m.id;
  };
  const nextTrigger = async () => {
    for (let i = 0; i < 100 && triggers.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    return triggers.splice(0).join('');
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'postern-flush-'));
    const queueDir = join(dir, 'spool');
    mkdirSync(join(queueDir, 'public'), { recursive: true });
    const registry = ParameterRegistry.withCore();
    registry.declare('@postern/plugin-flush', PARAMETERS);
    config = createConfigView({
      registry,
      configDirectory: dir,
      mainCf: parseMainCf(`queue_directory = ${queueDir}\nrelay_domains = example.net, .example.org\n`),
    });
    store = openQueueStore({ queueDirectory: queueDir });
    qmgr = createServer((s) => s.on('data', (d) => triggers.push(d.toString())));
    await new Promise<void>((resolve) => qmgr.listen(join(queueDir, 'public', 'qmgr'), resolve));
    const parent = createServiceHost({ entry, config, log: quiet }).ctx.container;
    openClients.push(serviceClients(parent));
    provide(parent, QUEUE_STORE, store);
    svc = await startServiceInProcess(main, { entry, config, log: quiet, container: parent, listen: { path: join(queueDir, 'public', 'flush') } });
    client = flushClient(clientsOf(config));
  });

  after(async () => {
    closeClients();
    await svc.stop();
    await new Promise<void>((resolve) => qmgr.close(() => resolve()));
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('add + send_site moves the site\'s deferred mail to incoming and wakes qmgr (F, I)', async () => {
    const a = await deferred();
    const b = await deferred();
    assert.equal(await client.add('example.net', a), 'ok');
    assert.equal(await client.add('EXAMPLE.NET', b), 'ok');
    assert.equal(await client.add('example.net', a), 'ok');
    const log = readFileSync(join(dir, 'spool', 'flush', 'example.net'), 'utf8');
    assert.equal(log, `${a}\n${b}\n${a}\n`);
    assert.equal(await client.sendSite('example.net'), 'ok');
    assert.equal((await store.get(a))?.queue, QUEUE.INCOMING);
    assert.equal((await store.get(b))?.queue, QUEUE.INCOMING);
    assert.equal(await nextTrigger(), 'FI');
    assert.ok(!existsSync(join(dir, 'spool', 'flush', 'example.net')), 'the log is discarded');
    assert.equal(await client.sendSite('example.net'), 'ok', 'an empty log is fine');
  });

  test('fast_flush_domains: ineligible sites are ignored by add and denied by send_site', async () => {
    const id = await deferred();
    assert.equal(await client.add('example.com', id), 'ok');
    assert.ok(!existsSync(join(dir, 'spool', 'flush', 'example.com')));
    assert.equal(await client.sendSite('example.com'), 'deny');
    assert.equal(await client.add('sub.example.org', id), 'ok', '.example.org matches subdomains');
    assert.equal(await client.sendSite('sub.example.org'), 'ok');
    assert.equal((await store.get(id))?.queue, QUEUE.INCOMING);
    triggers.splice(0);
  });

  test('bad requests', async () => {
    assert.equal(await client.sendSite('../etc'), 'bad');
    assert.equal(await client.add('example.net', 'not-an-id'), 'bad');
    assert.equal(await client.sendFile('../../x'), 'bad');
  });

  test('send_file delivers one deferred message; a message that is not deferred is left alone', async () => {
    const id = await deferred();
    assert.equal(await client.sendFile(id), 'ok');
    assert.equal((await store.get(id))?.queue, QUEUE.INCOMING);
    assert.equal(await nextTrigger(), 'FI');
    assert.equal(await client.sendFile(id), 'ok');
    assert.equal((await store.get(id))?.queue, QUEUE.INCOMING);
  });

  test('refresh sends logs older than fast_flush_refresh_time, purge sends all; stale empty logs go', async () => {
    const id = await deferred();
    assert.equal(await client.add('example.net', id), 'ok');
    assert.equal(await client.refresh(), 'ok');
    assert.equal((await store.get(id))?.queue, QUEUE.DEFERRED, 'a fresh log is not refreshed');
    assert.equal(await client.purge(), 'ok');
    assert.equal((await store.get(id))?.queue, QUEUE.INCOMING);
    const empty = join(dir, 'spool', 'flush', 'old.example.net');
    writeFileSync(empty, '');
    const old = (Date.now() - 8 * 86400_000) / 1000;
    utimesSync(empty, old, old);
    assert.equal(await client.purge(), 'ok');
    assert.ok(!existsSync(empty));
  });

  test('an unreachable service is "fail"; ETRN replies and site syntax', async () => {
    const other = createConfigView({
      registry: ParameterRegistry.withCore(),
      configDirectory: dir,
      mainCf: parseMainCf(`queue_directory = ${join(dir, 'nowhere')}\n`),
    });
    assert.equal(await flushClient(clientsOf(other)).sendSite('example.net'), 'fail');
    assert.equal(etrnReply('ok', 'example.net'), '250 Queuing started');
    assert.equal(etrnReply('deny', 'example.com'), '459 <example.com>: service unavailable');
    assert.equal(etrnReply('bad', 'x'), '458 Unable to queue messages');
    assert.equal(etrnReply('fail', 'x'), '458 Unable to queue messages');
    for (const [site, ok] of [
      ['example.net', true],
      ['[192.0.2.1]', true],
      ['[IPv6:2001:db8::1]', true],
      ['a..b', false],
      ['../etc', false],
      ['', false],
      ['-bad.example', false],
    ] as const) {
      assert.equal(isFlushSite(site), ok, site);
    }
  });
});
