/**
 * showq(8) over its real socket: rows of a real LMDB queue stream to the
 * core client (RemoteShowq) as events of one call, in showq's queue order.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { DELIVERY_LOG, QUEUE, showqClient, type ConfigView, type InProcessService, type Logger, type MasterEntry, type QueueName, type ShowqRow } from '@postern/core';
import type { LmdbQueueStore } from '@postern/queue-lmdb';
import { startTestService, tempDir, tempQueue, testConfig, TestClients } from '@postern/testkit';
import { main } from '../src/showq.js';
import { PARAMETERS } from '../src/showq-params.js';

const clients = new TestClients();

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
  name: 'showq', type: 'unix', private: false, unprivileged: true, chroot: false, wakeup: 0, wakeupIfUsed: false,
  maxproc: 0, command: 'showq', args: [], overrides: {}, flags: [], file: 'master.cf', line: 1,
};

describe('showq service', () => {
  let dir: ReturnType<typeof tempDir>;
  let config: ConfigView;
  let store: LmdbQueueStore;
  let svc: InProcessService;

  const put = async (queue: QueueName, sender: string, rcpts: { address: string; done?: boolean }[]) => {
    const w = store.createWriter();
    w.write(Buffer.from('Subject: s\n\nbody\n'));
    return (await w.commit({ sender, recipients: rcpts, arrivalTime: 1_600_000_000_000 }, queue)).id;
  };

  before(async () => {
    dir = tempDir('showq');
    const queueDir = join(dir.path, 'spool');
    config = testConfig({ configDirectory: dir.path, parameters: { '@postern/plugin-showq': PARAMETERS }, mainCf: { queue_directory: queueDir, empty_address_recipient: '<>' } });
    store = tempQueue(queueDir);
    svc = await startTestService(main, { entry, config, log: quiet, store, listen: { path: join(queueDir, 'public', 'showq') } });
  });

  after(async () => {
    clients.close();
    await svc.stop();
    await store.close();
    dir.remove();
  });

  test('rows in queue order, done recipients left out, reasons from the defer log, null sender', async () => {
    const hold = await put(QUEUE.HOLD, 'h@example.com', [{ address: 'x@example.net' }]);
    const inc = await put(QUEUE.INCOMING, '', [{ address: 'done@example.net', done: true }, { address: 'y@example.net' }]);
    const def = await put(QUEUE.DEFERRED, 'd@example.com', [{ address: 'z@example.net' }]);
    await store.appendLog(DELIVERY_LOG.DEFER, def, { recipient: 'z@example.net', status: '4.4.1', action: 'delayed', reason: 'lost connection', time: 1 });
    const rows: ShowqRow[] = [];
    const summary = await showqClient(clients.of(config)).list((row) => void rows.push(row));
    assert.deepEqual(rows.map((r) => r.queue_id), [inc, def, hold]);
    assert.deepEqual(summary, { messages: 3, bytes: 3 * 17 });
    assert.deepEqual(rows[0], {
      queue_name: 'incoming', queue_id: inc, arrival_time: 1_600_000_000, message_size: 17, forced_expire: false,
      sender: '<>', recipients: [{ address: 'y@example.net' }],
    });
    assert.deepEqual(rows[1]!.recipients, [{ address: 'z@example.net', delay_reason: 'lost connection' }]);
    for (const id of [hold, inc, def]) await store.delete(id);
  });

  test('a long queue streams: every row arrives, none twice', async () => {
    const n = 3000;
    const ids = new Set<string>();
    for (let i = 0; i < n; i += 500) {
      const batch = await Promise.all(Array.from({ length: Math.min(500, n - i) }, () => put(QUEUE.HOLD, 's@example.com', [{ address: 'r@example.net' }])));
      batch.forEach((id) => ids.add(id));
    }
    const seen = new Set<string>();
    const summary = await showqClient(clients.of(config)).list((row) => {
      assert.ok(!seen.has(row.queue_id));
      seen.add(row.queue_id);
    });
    assert.equal(summary.messages, n);
    assert.deepEqual([...seen].sort(), [...ids].sort());
  });
});
