/**
 * discard(8), and through it core's delivery agent skeleton: real services
 * on unix sockets (the agent, a bounce stand-in), called the way qmgr calls
 * them (deliveryClient), with the log lines checked as Postfix writes them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  deliveryAgent,
  deliveryClient,
  formatDelay,
  formatDeliveryLine,
  SERVICE,
  serveBounce,
  startServiceInProcess,
  type ConfigView,
  type DeliverFunction,
  type DeliveryLogName,
  type DeliveryLogRecord,
  type DeliveryRequest,
  type InProcessService,
  type MasterEntry,
  type RecipientResult,
  type ServiceMain,
  ServiceClients,
} from '@postern/core';
import { testConfig } from '@postern/testkit';
import { masterEntry } from '@postern/core';
import { main as discardMain } from '../src/discard.js';
import { MemoryLogger as TestLog } from '@postern/core';

/** The service connections this test opens (each closed by closeClients()). */
const openClients: ServiceClients[] = [];
const clientsOf = (config: ConfigView): ServiceClients => {
  const c = new ServiceClients(config);
  openClients.push(c);
  return c;
};
const closeClients = (): void => openClients.splice(0).forEach((c) => c.close());


const entry = (name: string, command = name): MasterEntry => masterEntry({ name, command });

interface Rig {
  config: ConfigView;
  log: TestLog;
  appends: { log: DeliveryLogName; queueId: string; record: DeliveryLogRecord }[];
  failBounceLog: boolean;
  close(): Promise<void>;
  serve(name: string, main: ServiceMain): Promise<void>;
}

async function rig(): Promise<Rig> {
  const dir = mkdtempSync(join(tmpdir(), 'postern-discard-'));
  const q = join(dir, 'q');
  mkdirSync(join(q, 'private'), { recursive: true });
  const config = testConfig({ configDirectory: dir, mainCf: { queue_directory: q } });
  const log = new TestLog();
  const services: InProcessService[] = [];
  const r: Rig = {
    config,
    log,
    appends: [],
    failBounceLog: false,
    async serve(name, main) {
      services.push(await startServiceInProcess(main, { entry: entry(name), config, log, listen: { path: join(q, 'private', name) } }));
    },
    async close() {
      closeClients();
      for (const s of services) await s.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await r.serve(SERVICE.BOUNCE, async (ctx) =>
    serveBounce(ctx, {
      append: async (l, queueId, record) => {
        if (r.failBounceLog && l === 'bounce') throw new Error('bounce log is full');
        r.appends.push({ log: l, queueId, record });
      },
      notify: async () => ({ count: 0 }),
    }),
  );
  return r;
}

const request = (over: Partial<DeliveryRequest> = {}): DeliveryRequest => ({
  queueId: '4ABCDEF012',
  queueName: 'active',
  transport: SERVICE.DISCARD,
  nexthop: 'silently',
  sender: 'sender@example.com',
  recipients: [
    { index: 0, address: 'a@example.com', original: 'alias@example.com' },
    { index: 2, address: 'b@example.com', notify: ['SUCCESS'] },
  ],
  arrivalTime: Date.now() - 120,
  activeTime: Date.now() - 20,
  size: 42,
  ...over,
});

test('formatDelay: Postfix delay figures (two significant digits, resolution limit, whole seconds from 100s)', () => {
  const cases: [number, number, string][] = [
    [0, 2, '0'],
    [0.004, 2, '0'],
    [0.01, 2, '0.01'],
    [0.1, 2, '0.1'],
    [0.123, 2, '0.12'],
    [0.0123, 3, '0.012'],
    [1.234, 2, '1.2'],
    [9.96, 2, '10'],
    [12.3, 2, '12'],
    [99.4, 2, '99'],
    [123.6, 2, '124'],
    [0.5, 0, '0'],
    [2.4, 0, '2'],
  ];
  for (const [s, res, want] of cases) assert.equal(formatDelay(s, res), want, `${s}s at ${res}`);
});

test('formatDeliveryLine: the log_adhoc line, orig_to only when it differs', () => {
  const times = { arrival: 1000, active: 1010, agent: 1020, connected: 1020, done: 1120 };
  assert.equal(
    formatDeliveryLine({ queueId: 'ID1', recipient: 'a@x', original: 'b@x', relay: 'local', times, dsn: '2.0.0', status: 'sent', reason: 'delivered to mailbox' }),
    'ID1: to=<a@x>, orig_to=<b@x>, relay=local, delay=0.12, delays=0.01/0.01/0/0.1, dsn=2.0.0, status=sent (delivered to mailbox)',
  );
  assert.equal(
    formatDeliveryLine({ queueId: 'ID1', recipient: 'a@x', original: 'A@X', relay: 'none', times, dsn: '2.0.0', status: 'sent', reason: 'x' }),
    'ID1: to=<a@x>, relay=none, delay=0.12, delays=0.01/0.01/0/0.1, dsn=2.0.0, status=sent (x)',
  );
});

test('discard: every recipient sent with the nexthop as reason, relay=none; NOTIFY=SUCCESS goes to the trace log', async () => {
  const r = await rig();
  try {
    await r.serve(SERVICE.DISCARD, discardMain);
    const res = await deliveryClient(clientsOf(r.config), SERVICE.DISCARD).deliver(request());
    assert.deepEqual(res.results.map((x) => [x.index, x.status, x.dsn, x.reason]), [
      [0, 'sent', '2.0.0', 'silently'],
      [2, 'sent', '2.0.0', 'silently'],
    ]);
    assert.equal(res.destinationDown, undefined);
    const lines = r.log.lines.filter((l) => l.startsWith('4ABCDEF012: '));
    assert.equal(lines.length, 2);
    assert.match(lines.find((l) => l.includes('to=<a@'))!, /^4ABCDEF012: to=<a@example\.com>, orig_to=<alias@example\.com>, relay=none, delay=[\d.]+, delays=[\d.]+\/[\d.]+\/0\/[\d.]+, dsn=2\.0\.0, status=sent \(silently\)$/);
    assert.deepEqual(r.appends.map((a) => [a.log, a.record.recipient, a.record.action, a.record.status]), [['trace', 'b@example.com', 'delivered', '2.0.0']]);

    const empty = await deliveryClient(clientsOf(r.config), SERVICE.DISCARD).deliver(request({ nexthop: '', recipients: [{ index: 0, address: 'c@example.com' }] }));
    assert.equal(empty.results[0]!.reason, 'discarded');
  } finally {
    await r.close();
  }
});

test('skeleton: unanswered recipients and thrown errors are deferred 4.3.0 and recorded in the defer log', async () => {
  const r = await rig();
  try {
    const partial: DeliverFunction = async (req) => [
      { index: req.recipients[0]!.index, status: 'sent', dsn: '2.0.0', reason: 'ok', relay: 'local' },
      { index: req.recipients[1]!.index, status: 'maybe', dsn: 'fine', reason: 'who knows' } as unknown as RecipientResult,
    ];
    const throwing: DeliverFunction = async () => {
      throw new Error('cannot open mailbox');
    };
    await r.serve('partial', async (ctx) => deliveryAgent(ctx, partial));
    await r.serve('throwing', async (ctx) => deliveryAgent(ctx, throwing));
    const a = await deliveryClient(clientsOf(r.config), 'partial').deliver(request({ transport: 'partial' }));
    assert.deepEqual(a.results.map((x) => [x.index, x.status, x.dsn]), [[0, 'sent', '2.0.0'], [2, 'deferred', '4.3.0']]);
    assert.match(a.results[1]!.reason, /internal error/);
    assert.equal(r.log.lines.filter((l) => l.startsWith('warning: 4ABCDEF012: partial: bad status for recipient #2')).length, 1);
    const b = await deliveryClient(clientsOf(r.config), 'throwing').deliver(request({ transport: 'throwing' }));
    assert.deepEqual(b.results.map((x) => [x.status, x.dsn, x.reason]), [
      ['deferred', '4.3.0', 'cannot open mailbox'],
      ['deferred', '4.3.0', 'cannot open mailbox'],
    ]);
    assert.equal(r.appends.filter((x) => x.log === 'defer').length, 3);
    assert.equal(r.log.lines.filter((l) => /relay=none, .*status=deferred \(cannot open mailbox\)$/.test(l)).length, 2);
  } finally {
    await r.close();
  }
});

test('skeleton: the time limit aborts the function and defers its recipients', async () => {
  const r = await rig();
  try {
    let sawAbort = false;
    const slow: DeliverFunction = (_req, _msg, agent) =>
      new Promise((_resolve, reject) => {
        agent.signal.addEventListener('abort', () => {
          sawAbort = true;
          reject(new Error('interrupted'));
        });
      });
    await r.serve('slow', async (ctx) => deliveryAgent(ctx, slow, { timeLimit: 0.05 }));
    const res = await deliveryClient(clientsOf(r.config), 'slow').deliver(request({ transport: 'slow' }));
    assert.ok(sawAbort);
    assert.deepEqual(res.results.map((x) => [x.status, x.reason]), [
      ['deferred', 'delivery time limit exceeded'],
      ['deferred', 'delivery time limit exceeded'],
    ]);
  } finally {
    await r.close();
  }
});

test('skeleton: a bounce the bounce service cannot record becomes a deferral; destinationDown reaches qmgr', async () => {
  const r = await rig();
  try {
    r.failBounceLog = true;
    const bouncing: DeliverFunction = async (req, _msg, agent) => {
      agent.destinationDown();
      return req.recipients.map((x) => ({ index: x.index, status: 'bounced' as const, dsn: '5.1.1', reason: 'user unknown' }));
    };
    await r.serve('bouncing', async (ctx) => deliveryAgent(ctx, bouncing));
    const res = await deliveryClient(clientsOf(r.config), 'bouncing').deliver(request({ transport: 'bouncing', recipients: [{ index: 0, address: 'a@example.com' }] }));
    assert.equal(res.destinationDown, true);
    assert.deepEqual(res.results.map((x) => [x.status, x.dsn, x.reason]), [
      ['deferred', '4.1.1', 'user unknown (bounce or trace service failure)'],
    ]);
    assert.equal(r.log.lines.filter((l) => l.includes('status=bounced')).length, 0);
    assert.equal(r.log.lines.filter((l) => l.includes('status=deferred (user unknown (bounce or trace service failure))')).length, 1);
  } finally {
    await r.close();
  }
});

test('skeleton: a verify request logs deliverable/undeliverable and writes only the trace log', async () => {
  const r = await rig();
  try {
    const mixed: DeliverFunction = async (req) => [
      { index: req.recipients[0]!.index, status: 'sent', dsn: '2.0.0', reason: 'would deliver' },
      { index: req.recipients[1]!.index, status: 'bounced', dsn: '5.1.1', reason: 'no such user' },
    ];
    await r.serve('verifier', async (ctx) => deliveryAgent(ctx, mixed));
    await deliveryClient(clientsOf(r.config), 'verifier').deliver(request({ transport: 'verifier', traceFlags: ['verify'] }));
    assert.deepEqual(r.appends.map((a) => [a.log, a.record.action]), [
      ['trace', 'deliverable'],
      ['trace', 'undeliverable'],
    ]);
    assert.equal(r.log.lines.filter((l) => l.includes('status=deliverable (would deliver)')).length, 1);
    assert.equal(r.log.lines.filter((l) => l.includes('status=undeliverable (no such user)')).length, 1);
  } finally {
    await r.close();
  }
});
