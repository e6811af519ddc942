/**
 * error(8) and retry: real agents on unix sockets with a bounce stand-in,
 * called as qmgr calls them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  deliveryClient,
  SERVICE,
  serveBounce,
  startServiceInProcess,
  type DeliveryLogName,
  type DeliveryRequest,
  type InProcessService,
  type Logger,
  type MasterEntry,
  ServiceClients,
  type ConfigView,
} from '@postern/core';
import { testConfig } from '@postern/testkit';
import { masterEntry } from '@postern/core';
import { main, splitDsn } from '../src/error.js';

/** The service connections this test opens (each closed by closeClients()). */
const openClients: ServiceClients[] = [];
const clientsOf = (config: ConfigView): ServiceClients => {
  const c = new ServiceClients(config);
  openClients.push(c);
  return c;
};
const closeClients = (): void => openClients.splice(0).forEach((c) => c.close());

const lines: string[] = [];
const log: Logger = {
  verbose: false,
  info: (t) => void lines.push(t),
  warn: (t) => void lines.push(`warning: ${t}`),
  error: (t) => void lines.push(`error: ${t}`),
  fatal: (t) => void lines.push(`fatal: ${t}`),
  panic: (t) => void lines.push(`panic: ${t}`),
  debug: () => undefined,
  child: () => log,
};

const entry = (name: string): MasterEntry => masterEntry({ name, command: 'error' });

test('splitDsn: a leading RFC 3463 status, else the default', () => {
  const cases: [string, string, { dsn: string; text: string }][] = [
    ['5.0.0', '5.1.1 user unknown', { dsn: '5.1.1', text: 'user unknown' }],
    ['5.0.0', 'mail for this domain is refused', { dsn: '5.0.0', text: 'mail for this domain is refused' }],
    ['4.0.0', '4.3.0 address resolver failure', { dsn: '4.3.0', text: 'address resolver failure' }],
    ['5.0.0', '5.1.10', { dsn: '5.1.10', text: '' }],
    ['5.0.0', '6.1.1 not a status', { dsn: '5.0.0', text: '6.1.1 not a status' }],
  ];
  for (const [def, text, want] of cases) assert.deepEqual(splitDsn(def, text), want, text);
});

test('error bounces and retry defers, with the nexthop text as the reason', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'postern-error-'));
  const q = join(dir, 'q');
  mkdirSync(join(q, 'private'), { recursive: true });
  const config = testConfig({ configDirectory: dir, mainCf: { queue_directory: q } });
  const appends: [DeliveryLogName, string, string, string][] = [];
  const services: InProcessService[] = [];
  const serve = async (name: string, m: typeof main) =>
    services.push(await startServiceInProcess(m, { entry: entry(name), config, log, listen: { path: join(q, 'private', name) } }));
  try {
    await serve(SERVICE.BOUNCE, async (ctx) =>
      serveBounce(ctx, {
        append: async (l, _id, r) => void appends.push([l, r.recipient, r.status, r.reason]),
        notify: async () => ({ count: 0 }),
      }),
    );
    await serve(SERVICE.ERROR, main);
    await serve(SERVICE.RETRY, main);
    const req = (transport: string, nexthop: string): DeliveryRequest => ({
      queueId: '5BCDEF0123',
      queueName: 'active',
      transport,
      nexthop,
      sender: 'sender@example.com',
      recipients: [{ index: 1, address: 'x@example.com' }],
      arrivalTime: Date.now(),
      size: 10,
    });
    const bounced = await deliveryClient(clientsOf(config), SERVICE.ERROR).deliver(req(SERVICE.ERROR, '5.1.1 user unknown'));
    assert.deepEqual(bounced.results.map((r) => [r.index, r.status, r.dsn, r.reason]), [[1, 'bounced', '5.1.1', 'user unknown']]);
    const plain = await deliveryClient(clientsOf(config), SERVICE.ERROR).deliver(req(SERVICE.ERROR, 'mail for example.com is not accepted'));
    assert.deepEqual(plain.results.map((r) => [r.status, r.dsn, r.reason]), [['bounced', '5.0.0', 'mail for example.com is not accepted']]);
    const deferred = await deliveryClient(clientsOf(config), SERVICE.RETRY).deliver(req(SERVICE.RETRY, '4.3.2 deferred transport'));
    assert.deepEqual(deferred.results.map((r) => [r.status, r.dsn, r.reason]), [['deferred', '4.3.2', 'deferred transport']]);
    assert.deepEqual(appends, [
      ['bounce', 'x@example.com', '5.1.1', 'user unknown'],
      ['bounce', 'x@example.com', '5.0.0', 'mail for example.com is not accepted'],
      ['defer', 'x@example.com', '4.3.2', 'deferred transport'],
    ]);
    assert.match(lines.find((l) => l.includes('status=bounced'))!, /^5BCDEF0123: to=<x@example\.com>, relay=none, delay=[\d.]+, delays=[\d./]+, dsn=5\.1\.1, status=bounced \(user unknown\)$/);
  } finally {
    closeClients();
    for (const s of services) await s.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
