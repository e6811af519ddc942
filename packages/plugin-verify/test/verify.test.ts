/**
 * verify(8): the cache logic with an injected clock over the real verify
 * socket, and probes submitted over a real cleanup socket to an in-process
 * CleanupService stand-in.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServiceHost, provide, serveCleanup, serveVerify, SERVICE, startServiceInProcess, TABLES, verifyClient, type CleanupRequest, type ConfigView, type InProcessService, type Logger, type MasterEntry, ServiceClients, serviceClients } from '@postern/core';
import { createTableRegistry } from '@postern/tables';
import { testConfig } from '@postern/testkit';
import { masterEntry } from '@postern/core';
import { AddressVerifier, IN_PROGRESS, main, verifierFromConfig, verifySender } from '../src/verify.js';
import { MemoryVerifyStore, parseEntry } from '../src/verify-cache.js';
import { PARAMETERS } from '../src/verify-params.js';

/** The service connections this test opens (each closed by closeClients()). */
const openClients: ServiceClients[] = [];
const clientsOf = (config: ConfigView): ServiceClients => {
  const c = new ServiceClients(config);
  openClients.push(c);
  return c;
};
const closeClients = (): void => openClients.splice(0).forEach((c) => c.close());

const warnings: string[] = [];
const log: Logger = {
  verbose: false,
  info: () => undefined,
  warn: (t: string) => void warnings.push(`warning: ${t}`),
  error: () => undefined,
  fatal: () => undefined,
  panic: () => undefined,
  debug: () => undefined,
  child: () => log,
};

const entry = (name: string, command: string): MasterEntry => masterEntry({ name, private: name !== SERVICE.CLEANUP, maxproc: 1, command });

const DAY = 86400;
const T0 = 1_700_000_000;

function makeConfig(dir: string, extra: string): ConfigView {
  return testConfig({ configDirectory: dir, parameters: { '@postern/plugin-verify': PARAMETERS }, mainCf: `queue_directory = ${join(dir, 'spool')}\n${extra}` });
}

describe('verify cache over the verify socket (injected clock)', () => {
  let dir: string;
  let config: ConfigView;
  let svc: InProcessService;
  let clock = T0;
  const probes: string[] = [];
  let verifier: AddressVerifier;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'postern-verify-'));
    mkdirSync(join(dir, 'spool', 'private'), { recursive: true });
    config = makeConfig(dir, 'address_verify_map =\n');
    verifier = verifierFromConfig(config, new MemoryVerifyStore(), log, async (a) => void probes.push(a), () => clock * 1000);
    svc = await startServiceInProcess(async (ctx) => serveVerify(ctx, verifier), {
      entry: entry(SERVICE.VERIFY, 'verify'), config, log, listen: { path: join(dir, 'spool', 'private', SERVICE.VERIFY) },
    });
  });

  after(async () => {
    closeClients();
    await svc.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('positive entries: in progress, deliverable, refresh probe, expiry', async () => {
    const v = verifyClient(clientsOf(config));
    const q = async (a: string) => {
      const r = await v.query(a);
      await verifier.settled();
      return r;
    };
    assert.deepEqual(await q('a@example.com'), { status: 'undetermined', text: IN_PROGRESS });
    assert.deepEqual(probes, ['a@example.com']);
    clock += 10;
    assert.deepEqual(await q('a@example.com'), { status: 'undetermined', text: IN_PROGRESS });
    assert.equal(probes.length, 1, 'no second probe within PROBE_TTL');

    assert.equal(await v.update('a@example.com', 'deliverable', '250 2.0.0 Ok'), true);
    assert.deepEqual(await q('a@example.com'), { status: 'deliverable', text: '250 2.0.0 Ok' });
    // a failed probe does not evict a good address
    assert.equal(await v.update('a@example.com', 'undeliverable', '550 5.1.1 unknown'), true);
    assert.deepEqual(await q('a@example.com'), { status: 'deliverable', text: '250 2.0.0 Ok' });
    assert.equal(probes.length, 1);

    clock += 7 * DAY + 1; // positive refresh time passed: still deliverable, probe sent
    assert.deepEqual(await q('a@example.com'), { status: 'deliverable', text: '250 2.0.0 Ok' });
    assert.equal(probes.length, 2);
    clock += 24 * DAY; // positive expire time passed, probe long lost
    assert.deepEqual(await q('a@example.com'), { status: 'undetermined', text: IN_PROGRESS });
    assert.equal(probes.length, 3);
  });

  test('negative entries: undeliverable, refresh after 3h, expiry after 3d', async () => {
    const v = verifyClient(clientsOf(config));
    const q = async (a: string) => {
      const r = await v.query(a);
      await verifier.settled();
      return r;
    };
    probes.length = 0;
    assert.equal(await v.update('b@example.com', 'undeliverable', '550 5.1.1 <b@example.com>: no such user'), true);
    assert.deepEqual(await q('b@example.com'), { status: 'undeliverable', text: '550 5.1.1 <b@example.com>: no such user' });
    assert.equal(probes.length, 0);
    clock += 3 * 3600 + 1;
    assert.equal((await q('b@example.com')).status, 'undeliverable');
    assert.deepEqual(probes, ['b@example.com']);
    assert.equal(await v.update('b@example.com', 'undetermined', '451 4.4.1 connection timed out'), true);
    assert.deepEqual(await q('b@example.com'), { status: 'undetermined', text: '451 4.4.1 connection timed out' });
    clock += 3 * DAY + 1;
    assert.deepEqual(await q('b@example.com'), { status: 'undetermined', text: IN_PROGRESS });
  });

  test('a bad status is refused', async () => {
    assert.equal(await clientsOf(config).client(SERVICE.VERIFY).call('update', { address: 'c@x', status: 'maybe', text: '' }), false);
  });
});

describe('verify service main: probes through a cleanup stand-in on a real socket', () => {
  let dir: string;
  let config: ConfigView;
  let cleanup: InProcessService;
  let verify: InProcessService;
  const submitted: { request: CleanupRequest; bytes: number }[] = [];
  let gotProbe: () => void = () => undefined;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'postern-verify-'));
    mkdirSync(join(dir, 'spool', 'private'), { recursive: true });
    mkdirSync(join(dir, 'spool', 'public'), { recursive: true });
    config = makeConfig(dir, `address_verify_map = lmdb:${dir}/verify_cache\n`);
    cleanup = await startServiceInProcess(
      async (ctx) =>
        serveCleanup(ctx, {
          async submit(request, content, onQueueId) {
            let bytes = 0;
            for await (const chunk of content) bytes += chunk.length;
            onQueueId?.('4Bx9yT0abc');
            submitted.push({ request, bytes });
            gotProbe();
            return { status: 'queued', queueId: '4Bx9yT0abc', code: 250, dsn: '2.0.0', text: 'Ok: queued as 4Bx9yT0abc' };
          },
        }),
      { entry: entry(SERVICE.CLEANUP, 'cleanup'), config, log, listen: { path: join(dir, 'spool', 'public', SERVICE.CLEANUP) } },
    );
    const parent = createServiceHost({ entry: entry(SERVICE.VERIFY, 'verify'), config, log }).ctx.container;
    openClients.push(serviceClients(parent));
    provide(parent, TABLES, createTableRegistry({ log }));
    verify = await startServiceInProcess(main, {
      entry: entry(SERVICE.VERIFY, 'verify'), config, log, container: parent, listen: { path: join(dir, 'spool', 'private', SERVICE.VERIFY) },
    });
  });

  after(async () => {
    closeClients();
    await verify.stop();
    await cleanup.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('an unknown address is probed with the verify trace flag, then cached in the map', async () => {
    const probed = new Promise<void>((r) => (gotProbe = r));
    const v = verifyClient(clientsOf(config));
    assert.deepEqual(await v.query('user@example.net'), { status: 'undetermined', text: IN_PROGRESS });
    await probed;
    assert.equal(submitted.length, 1);
    assert.deepEqual(submitted[0]!.request, {
      sender: 'double-bounce', recipients: [{ address: 'user@example.net' }], origin: 'verify', traceFlags: ['probe'],
    });
    assert.equal(submitted[0]!.bytes, 0);
    assert.equal(await v.update('user@example.net', 'deliverable', 'delivers to mailbox'), true);
    assert.deepEqual(await v.query('user@example.net'), { status: 'deliverable', text: 'delivers to mailbox' });
    const raw = await createTableRegistry({ log }).open(`lmdb:${dir}/verify_cache`).lookup('user@example.net');
    assert.equal(parseEntry(raw ?? '')?.text, 'delivers to mailbox');
    assert.equal(submitted.length, 1);
  });
});

describe('negative cache off, pending limit, cleanup, sender', () => {
  const make = (negativeCache: boolean, pendingLimit = 5000) => {
    const store = new MemoryVerifyStore();
    const probes: string[] = [];
    const clock = { t: T0 };
    const v = new AddressVerifier({
      store,
      times: { positiveExpire: 31 * DAY, positiveRefresh: 7 * DAY, negativeExpire: 3 * DAY, negativeRefresh: 3 * 3600 },
      negativeCache,
      pendingLimit,
      probe: async (a) => void probes.push(a),
      log,
      now: () => clock.t * 1000,
    });
    const size = async () => {
      let n = 0;
      for await (const _ of store.entries()) n++;
      return n;
    };
    return { v, store, probes, clock, size };
  };

  test('without negative caching, every query of an unknown address probes and stores nothing', async () => {
    for (const [negativeCache, probesWanted, stored] of [[false, 2, 0], [true, 1, 1]] as const) {
      const { v, probes, size } = make(negativeCache);
      await v.query('x@example.org');
      await v.query('x@example.org');
      await v.settled();
      assert.equal(probes.length, probesWanted, `negativeCache=${negativeCache}`);
      assert.equal(await size(), stored);
    }
  });

  test('without negative caching, an expired negative entry is purged', async () => {
    const { v, clock, size, store } = make(false);
    await v.update('y@example.org', 'undeliverable', '550 no');
    assert.equal((await v.query('y@example.org')).status, 'undeliverable');
    clock.t += 3 * DAY + 1;
    assert.deepEqual(await v.query('y@example.org'), { status: 'undetermined', text: IN_PROGRESS });
    assert.equal(await store.get('y@example.org'), undefined);
    assert.equal(await size(), 0);
  });

  test('address_verify_pending_request_limit postpones new probes', async () => {
    const { v, probes } = make(true, 1);
    warnings.length = 0;
    await v.query('p1@example.org');
    await v.query('p2@example.org');
    await v.settled();
    assert.deepEqual(probes, ['p1@example.org']);
    assert.ok(warnings.some((w) => w.includes('address_verify_pending_request_limit')));
    await v.update('p1@example.org', 'deliverable', 'ok');
    await v.query('p2@example.org');
    await v.settled();
    assert.deepEqual(probes, ['p1@example.org', 'p2@example.org']);
  });

  test('cleanup drops expired entries and keeps fresh ones; address literals keep no colon', async () => {
    const { v, clock, store } = make(true);
    await v.update('old@example.org', 'deliverable', 'ok');
    clock.t += 20 * DAY;
    await v.update('new@[IPv6:2001:db8::1]', 'deliverable', 'ok');
    assert.ok(await store.get('new@[IPv6_2001_db8__1]'));
    clock.t += 12 * DAY;
    assert.deepEqual(await v.cleanup(), { retained: 1, dropped: 1 });
    assert.equal(await store.get('old@example.org'), undefined);
  });

  test('address_verify_sender: <> is the null sender', () => {
    const dir = mkdtempSync(join(tmpdir(), 'postern-verify-'));
    try {
      const cases: [string, string][] = [['', 'double-bounce'], ['address_verify_sender = <>\n', ''], ['double_bounce_sender = nobody\n', 'nobody'], ['address_verify_sender = postmaster\n', 'postmaster']];
      for (const [cf, want] of cases) assert.equal(verifySender(makeConfig(dir, cf)), want, cf);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
