/**
 * redis: lookup tables against real redis-server processes (standalone and
 * a 3-master Cluster): the file syntax, postmap-style lookups with
 * key_format and folding, writes (for address_verify_map and the TLS
 * caches), entries for postmap -s, and a temporary error while Redis is down.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTableRegistry, isPosternError } from '@postern/core';
import { Redis } from 'ioredis';
import { expandKeyFormat, haveRedisServer, parseRedisTableFile, plugin, RedisTable, startRedisCluster, startRedisServer, type RedisClusterProcess, type RedisServerProcess } from '../src/index.js';

const skip = haveRedisServer(true) ? false : 'redis-server/redis-cli not installed (Debian: redis-server, redis-tools)';
let server: RedisServerProcess | undefined;
let cluster: RedisClusterProcess | undefined;
const dir = mkdtempSync(join(tmpdir(), 'postern-redis-table-'));

before(async () => {
  if (skip) return;
  server = await startRedisServer({ fsync: 'off' });
  cluster = await startRedisCluster(3);
});
after(async () => {
  await server?.stop();
  await cluster?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function cf(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

test('the table file: defaults, continuation lines, comments, unknown names and bad values', () => {
  const s = parseRedisTableFile('/x.cf', '# comment\nhosts = a:1,\n  b:2\nprefix = transport:\nkey_format = %d\nttl = 1h\n');
  assert.deepEqual(s.hosts, ['a:1', 'b:2']);
  assert.equal(s.prefix, 'transport:');
  assert.equal(s.ttl, 3600);
  assert.equal(s.fold, true);
  assert.equal(parseRedisTableFile('/y.cf', '').hosts[0], '127.0.0.1:6379');
  assert.throws(() => parseRedisTableFile('/z.cf', 'hots = x\n'), (e: unknown) => isPosternError(e, 'POSTERN_ERR_TABLE_SYNTAX') && /unknown parameter "hots"/.test(String(e)));
  assert.throws(() => parseRedisTableFile('/z.cf', 'cluster = maybe\n'), (e: unknown) => isPosternError(e, 'POSTERN_ERR_TABLE_SYNTAX'));
  assert.throws(() => parseRedisTableFile('/nonexistent/redis.cf'), (e: unknown) => isPosternError(e, 'POSTERN_ERR_TABLE_OPEN'));
});

test('key_format as memcache_table(5): %s %u %d %%', () => {
  const cases: [string, string, string | undefined][] = [
    ['%s', 'user@example.com', 'user@example.com'],
    ['%u', 'user@example.com', 'user'],
    ['%d', 'user@example.com', 'example.com'],
    ['%d', 'example.com', undefined],
    ['rcpt:%u@%d%%', 'a@b', 'rcpt:a@b%'],
  ];
  for (const [fmt, key, want] of cases) assert.equal(expandKeyFormat(fmt, key), want, `${fmt} ${key}`);
});

for (const mode of ['standalone', 'cluster'] as const) {
  test(`${mode}: lookups, writes and entries; the registry opens redis: through the plugin declaration`, { skip }, async () => {
    const hosts = mode === 'cluster' ? cluster!.hosts.join(', ') : server!.address;
    const path = cf(`t-${mode}.cf`, `hosts = ${hosts}\ncluster = ${mode === 'cluster' ? 'yes' : 'no'}\nprefix = tr:\n`);
    const seed = mode === 'cluster' ? undefined : new Redis(server!.port, '127.0.0.1');
    const registry = createTableRegistry();
    for (const [type, factory] of Object.entries(plugin.tables ?? {})) registry.registerType(type, factory);
    const table = registry.open(`redis:${path}`) as RedisTable;
    try {
      assert.equal(table.type, 'redis');
      await table.update('Example.COM', 'smtp:[relay.example.net]');
      assert.equal(await table.lookup('example.com'), 'smtp:[relay.example.net]', 'keys are folded');
      assert.equal(await table.lookup('EXAMPLE.com'), 'smtp:[relay.example.net]');
      assert.equal(await table.lookup('other.example'), undefined);
      if (seed) assert.equal(await seed.get('tr:example.com'), 'smtp:[relay.example.net]', 'stored under prefix + key');
      for (let i = 0; i < 30; i++) await table.update(`k${i}.example`, `v${i}`);
      const all = new Map<string, string>();
      for await (const [k, v] of table.entries()) all.set(k, v);
      assert.equal(all.size, 31);
      assert.equal(all.get('k7.example'), 'v7');
      assert.equal(await table.delete('k7.example'), true);
      assert.equal(await table.delete('k7.example'), false);
      assert.equal(await table.lookup('k7.example'), undefined);
    } finally {
      await table.close();
      seed?.disconnect();
    }
  });
}

test('hash mode and %d: one HGET per domain', { skip }, async () => {
  const path = cf('h.cf', `hosts = ${server!.address}\nhash = virtual\nkey_format = %d\n`);
  const table = new RedisTable(path, `redis:${path}`);
  const seed = new Redis(server!.port, '127.0.0.1');
  try {
    await seed.hset('virtual', 'example.org', 'OK');
    assert.equal(await table.lookup('anyone@Example.ORG'), 'OK');
    assert.equal(await table.lookup('example.org'), undefined, 'no domain part: no lookup');
  } finally {
    await table.close();
    seed.disconnect();
  }
});

test('Redis down: a lookup is a temporary error (never "not found"), and works again when Redis is back', { skip }, async () => {
  const own = await startRedisServer({ fsync: 'off' });
  const path = cf('down.cf', `hosts = ${own.address}\ntimeout = 1s\n`);
  const table = new RedisTable(path, `redis:${path}`);
  try {
    await table.update('a', 'b');
    await own.kill();
    await assert.rejects(table.lookup('a'), (e: unknown) => isPosternError(e, 'POSTERN_ERR_TABLE_LOOKUP'));
    await own.restart();
    let answered = false;
    for (let i = 0; i < 50 && !answered; i++) {
      answered = await table.lookup('a').then(() => true, () => false);
      if (!answered) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(answered, 'the table reconnected on its own');
    await table.update('a', 'c');
    assert.equal(await table.lookup('a'), 'c');
  } finally {
    await table.close();
    await own.stop();
  }
});
