/**
 * anvil(8) over its real unix socket, through core's remote stub
 * (anvilClient): counts, rates within and across anvil_rate_time_unit (the
 * service's clock is injected), Postfix's statistics lines, and the stub's
 * "no limits" answer when anvil is unreachable.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  anvilClient,
  anvilLimitReply,
  MemoryLogger,
  startServiceInProcess,
  syslogTime,
  type AnvilService,
  type ConfigView,
  type InProcessService,
  type MasterEntry,
  ServiceClients,
} from '@postern/core';
import { testConfig } from '@postern/testkit';
import { createAnvil } from '../src/anvil.js';
import { AnvilTable } from '../src/anvil-remote.js';
import { PARAMETERS } from '../src/anvil-params.js';

/** The service connections this test opens (each closed by closeClients()). */
const openClients: ServiceClients[] = [];
const clientsOf = (config: ConfigView): ServiceClients => {
  const c = new ServiceClients(config);
  openClients.push(c);
  return c;
};
const closeClients = (): void => openClients.splice(0).forEach((c) => c.close());

const entry: MasterEntry = {
  name: 'anvil', type: 'unix', private: true, unprivileged: true, chroot: false, wakeup: 0, wakeupIfUsed: false,
  maxproc: 1, command: 'anvil', args: [], overrides: {}, flags: [], file: 'master.cf', line: 1,
};

const T0 = new Date(2026, 10, 21, 7, 0, 0).getTime();

function configFor(dir: string, queueDir: string): ConfigView {
  return testConfig({ configDirectory: dir, parameters: { '@postern/plugin-anvil': PARAMETERS }, mainCf: { queue_directory: queueDir, ipc_timeout: '5s' } });
}

describe('anvil service over its socket', () => {
  let dir: string;
  let svc: InProcessService;
  let anvil: AnvilService;
  let clock = T0;
  const log = new MemoryLogger();

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'postern-anvil-'));
    const queueDir = join(dir, 'spool');
    mkdirSync(join(queueDir, 'private'), { recursive: true });
    const config = configFor(dir, queueDir);
    svc = await startServiceInProcess(createAnvil(() => clock), { entry, config, log, listen: { path: join(queueDir, 'private', 'anvil') } });
    anvil = anvilClient(clientsOf(config));
  });

  after(async () => {
    closeClients();
    await svc.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('connect and disconnect count concurrent connections and the connection rate', async () => {
    clock = T0;
    assert.deepEqual(await anvil.connect('smtp', '192.0.2.1'), { status: 'ok', count: 1, rate: 1 });
    clock = T0 + 1000;
    assert.deepEqual(await anvil.connect('smtp', '192.0.2.1'), { status: 'ok', count: 2, rate: 2 });
    assert.equal(await anvil.disconnect('smtp', '192.0.2.1'), 'ok');
    assert.deepEqual(await anvil.connect('smtp', '192.0.2.1'), { status: 'ok', count: 2, rate: 3 });
    // another client, and the same address on another service, count apart
    assert.deepEqual(await anvil.connect('smtp', '192.0.2.2'), { status: 'ok', count: 1, rate: 1 });
    assert.deepEqual(await anvil.connect('submission', '192.0.2.1'), { status: 'ok', count: 1, rate: 1 });
    const l = await anvil.lookup('smtp', '192.0.2.1');
    assert.equal(l.count, 2);
    assert.equal(l.rate, 3);
  });

  test('rates restart when anvil_rate_time_unit has passed; the count stays', async () => {
    clock = T0 + 60_000; // window start + unit: still the same window
    assert.deepEqual(await anvil.connect('smtp', '192.0.2.1'), { status: 'ok', count: 3, rate: 4 });
    clock = T0 + 60_001; // past it: a new window
    assert.deepEqual(await anvil.connect('smtp', '192.0.2.1'), { status: 'ok', count: 4, rate: 1 });
  });

  test('message, recipient, newtls and auth rates, and lookup of each', async () => {
    clock = T0 + 120_000;
    const cases: [keyof AnvilService & ('message' | 'recipient' | 'newtls' | 'auth'), number][] = [
      ['message', 2],
      ['recipient', 3],
      ['newtls', 1],
      ['auth', 2],
    ];
    for (const [kind, times] of cases) {
      let last = 0;
      for (let i = 0; i < times; i++) last = (await anvil[kind]('smtp', '198.51.100.7')).rate;
      assert.equal(last, times, kind);
    }
    assert.deepEqual(await anvil.newtlsReport('smtp', '198.51.100.7'), { status: 'ok', rate: 1 });
    assert.deepEqual(await anvil.lookup('smtp', '198.51.100.7'), {
      status: 'ok', count: 0, rate: 0, message: 2, recipient: 3, newtls: 1, auth: 2,
    });
    // a client without connections is forgotten one time unit after its first event
    clock = T0 + 180_000;
    assert.deepEqual(await anvil.lookup('smtp', '198.51.100.7'), {
      status: 'ok', count: 0, rate: 0, message: 0, recipient: 0, newtls: 0, auth: 0,
    });
    assert.deepEqual(await anvil.message('smtp', '198.51.100.7'), { status: 'ok', rate: 1 });
  });

  test('an unknown client looks up as zeros', async () => {
    assert.deepEqual(await anvil.lookup('smtp', '203.0.113.9'), {
      status: 'ok', count: 0, rate: 0, message: 0, recipient: 0, newtls: 0, auth: 0,
    });
  });
});

describe('anvil statistics lines', () => {
  test('peaks are logged in Postfix format, then reset', async () => {
    let clock = T0;
    const log = new MemoryLogger();
    const table = new AnvilTable({ timeUnit: 60_000, log, now: () => clock });
    await table.connect('smtp', '127.0.0.1');
    clock = T0 + 2000;
    await table.connect('smtp', '127.0.0.1');
    await table.recipient('smtp', '127.0.0.1');
    clock = T0 + 5000;
    await table.connect('smtp', '10.0.0.1');
    const at = syslogTime(new Date(T0 + 2000));
    assert.equal(at, 'Nov 21 07:00:02');
    const lines = table.statusReport();
    assert.deepEqual(lines, [
      `statistics: max connection rate 2/60s for (smtp:127.0.0.1) at ${at}`,
      `statistics: max connection count 2 for (smtp:127.0.0.1) at ${at}`,
      `statistics: max recipient rate 1/60s for (smtp:127.0.0.1) at ${at}`,
      `statistics: max cache size 2 at Nov 21 07:00:05`,
    ]);
    assert.deepEqual(log.lines, lines);
    assert.deepEqual(table.statusReport(), []);
  });

  test('disconnected clients expire one time unit after their last disconnect', async () => {
    let clock = T0;
    const table = new AnvilTable({ timeUnit: 60_000, log: new MemoryLogger(), now: () => clock });
    await table.connect('smtp', '127.0.0.1');
    clock = T0 + 30_000;
    await table.disconnect('smtp', '127.0.0.1');
    clock = T0 + 89_999;
    table.expire();
    assert.equal(table.size, 1);
    clock = T0 + 90_000;
    table.expire();
    assert.equal(table.size, 0);
  });
});

describe('anvil unreachable', () => {
  test('the remote stub answers fail with zeros, which no limit exceeds', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'postern-anvil-down-'));
    try {
      const anvil = anvilClient(clientsOf(configFor(dir, join(dir, 'no-such-spool'))));
      const c = await anvil.connect('smtp', '192.0.2.1');
      assert.deepEqual(c, { status: 'fail', count: 0, rate: 0 });
      assert.equal(anvilLimitReply('count', c.count, 50, '192.0.2.1', 'smtp', 'mx.example'), null);
      assert.deepEqual(await anvil.message('smtp', '192.0.2.1'), { status: 'fail', rate: 0 });
      assert.equal(await anvil.disconnect('smtp', '192.0.2.1'), 'fail');
      assert.equal((await anvil.lookup('smtp', '192.0.2.1')).status, 'fail');
    } finally {
      closeClients();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('limit replies follow smtpd: only a value above a non-zero limit is refused', () => {
    const cases: [Parameters<typeof anvilLimitReply>[0], number, number, string | null][] = [
      ['count', 50, 50, null],
      ['count', 51, 50, '421 4.7.0 mx.example Error: too many connections from 192.0.2.1'],
      ['rate', 1000, 0, null],
      ['rate', 3, 2, '421 4.7.0 mx.example Error: too many connections from 192.0.2.1'],
      ['message', 2, 1, '450 4.7.1 Error: too much mail from 192.0.2.1'],
      ['recipient', 2, 1, '450 4.7.1 Error: too many recipients from 192.0.2.1'],
      ['auth', 2, 1, '450 4.7.1 Error: too many AUTH commands from 192.0.2.1'],
      ['newtls', 2, 1, '421 4.7.0 mx.example Error: too many new TLS sessions from 192.0.2.1'],
      ['starttls', 2, 1, '454 4.7.0 Error: too many new TLS sessions from 192.0.2.1'],
    ];
    for (const [kind, value, limit, reply] of cases) {
      assert.equal(anvilLimitReply(kind, value, limit, '192.0.2.1', 'smtp', 'mx.example')?.reply ?? null, reply, `${kind} ${value}/${limit}`);
    }
    assert.equal(
      anvilLimitReply('count', 51, 50, '192.0.2.1', 'smtp', 'mx.example')?.warning,
      'Connection concurrency limit exceeded: 51 from 192.0.2.1 for service smtp',
    );
    // the warnings name the client as name[address], as smtpd's do
    assert.equal(
      anvilLimitReply('message', 3, 2, '192.0.2.1', 'smtp', 'mx.example', 'host.example[192.0.2.1]')?.warning,
      'Message delivery request rate limit exceeded: 3 from host.example[192.0.2.1] for service smtp',
    );
  });
});
