import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { mkdirSync } from 'node:fs';
import { createTableRegistry } from '@postern/tables';
import { IpcClient, provide, RemoteRewrite, startServiceInProcess, TABLES, type MasterEntry } from '@postern/core';
import { container } from 'tsyringe';
import { main } from '../src/trivial-rewrite.js';
import { plugin } from '../src/index.js';
import { makeConfig, MemoryLog, tempDir } from './helpers.js';

const ENTRY: MasterEntry = {
  name: 'rewrite',
  type: 'unix',
  private: true,
  unprivileged: true,
  chroot: false,
  wakeup: 0,
  wakeupIfUsed: false,
  maxproc: 0,
  command: 'trivial-rewrite',
  args: [],
  overrides: {},
  flags: [],
  file: 'master.cf',
  line: 1,
};

test('plugin declaration', () => {
  assert.equal(plugin.name, '@postern/plugin-trivial-rewrite');
  assert.deepEqual(plugin.provides, ['rewrite']);
  assert.ok(plugin.commands['trivial-rewrite']);
  assert.ok(plugin.parameters?.some((p) => p.name === 'transport_maps' && p.default === ''));
});

test('trivial-rewrite serves rewrite and resolve on a unix socket', async () => {
  const t = tempDir();
  const parent = container.createChildContainer();
  provide(parent, TABLES, createTableRegistry());
  mkdirSync(join(t.dir, 'private'));
  const path = join(t.dir, 'private', 'rewrite');
  const svc = await startServiceInProcess(main, {
    entry: ENTRY,
    config: makeConfig(t.dir, { relay_domains: 'relay.example' }),
    log: new MemoryLog(),
    container: parent,
    listen: { path },
  });
  const client = new IpcClient('rewrite', path);
  try {
    const remote = new RemoteRewrite(client);
    assert.equal(await remote.rewrite('local', 'joe'), 'joe@mail.example.com');
    assert.equal(await remote.rewrite('remote', 'joe'), 'joe');
    const r = await remote.resolve('x@relay.example', 'a@b.example');
    assert.deepEqual(r, { transport: 'relay', nexthop: 'relay.example', recipient: 'x@relay.example', class: 'relay', flags: [] });
    const local = await remote.resolve('joe');
    assert.equal(local.class, 'local');
    assert.deepEqual(local.flags, ['final']);
  } finally {
    client.close();
    await svc.stop();
    t.remove();
  }
});
