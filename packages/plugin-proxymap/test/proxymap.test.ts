/**
 * proxymap(8) over its real sockets: the proxymap and proxywrite services run
 * in process on unix sockets under queue_directory/private, and the client
 * table (proxyTableFactory) and raw IPC calls talk to them.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createConfigView, createServiceHost, isPosternError, ParameterRegistry, parseMainCf, provide, SERVICE, TABLES, startServiceInProcess, type ConfigView, type InProcessService, type Logger, type MasterEntry, ServiceClients, serviceClients } from '@postern/core';
import { createTableRegistry } from '@postern/tables';
import { masterEntry } from '@postern/core';
import { main } from '../src/proxymap.js';
import { PARAMETERS } from '../src/proxymap-params.js';
import { approvedTables } from '../src/proxymap.js';
import { proxyTableFactory } from '../src/proxymap-table.js';

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

const entry = (name: string, maxproc: number): MasterEntry => masterEntry({ name, maxproc, command: 'proxymap' });

test('approvedTables keeps proxy: words only, braces intact', () => {
  const cases: [string, string[]][] = [
    ['proxy:hash:/etc/a, hash:/etc/b proxy:proxy:regexp:/c', ['hash:/etc/a', 'regexp:/c']],
    ['proxy:inline:{ a=1, b=2 } proxy:nocolon', ['inline:{ a=1, b=2 }']],
    ['', []],
  ];
  for (const [value, want] of cases) assert.deepEqual([...approvedTables(value)], want, value);
});

describe('proxymap and proxywrite services', () => {
  let dir: string;
  let config: ConfigView;
  let reader: InProcessService;
  let writer: InProcessService;
  let text: string;
  let db: string;
  const writeService = () => config.get('proxywrite_service_name');

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'postern-proxymap-'));
    const queueDir = join(dir, 'spool');
    mkdirSync(join(queueDir, 'private'), { recursive: true });
    text = join(dir, 'access');
    writeFileSync(text, 'example.com OK\nspam.example REJECT go away\n');
    db = join(dir, 'cache');
    const registry = ParameterRegistry.withCore();
    registry.declare('@postern/plugin-proxymap', PARAMETERS);
    config = createConfigView({
      registry,
      configDirectory: dir,
      mainCf: parseMainCf(
        [
          `queue_directory = ${queueDir}`,
          `my_maps = proxy:texthash:${text}`,
          `proxy_read_maps = proxy:inline:{ a=1, b=2 }, $my_maps hash:${dir}/not-proxied proxy:texthash:${dir}/missing proxy:lmdb:${db}`,
          `proxy_write_maps = proxy:lmdb:${db}`,
        ].join('\n') + '\n',
      ),
    });
    const readerHost = createServiceHost({ entry: entry(SERVICE.PROXYMAP, 0), config, log }).ctx.container;
    provide(readerHost, TABLES, createTableRegistry({ log }));
    const writerHost = createServiceHost({ entry: entry(writeService(), 1), config, log }).ctx.container;
    provide(writerHost, TABLES, createTableRegistry({ log }));
    openClients.push(serviceClients(readerHost), serviceClients(writerHost));
    reader = await startServiceInProcess(main, { entry: entry(SERVICE.PROXYMAP, 0), config, log, container: readerHost, listen: { path: join(queueDir, 'private', SERVICE.PROXYMAP) } });
    writer = await startServiceInProcess(main, { entry: entry(writeService(), 1), config, log, container: writerHost, listen: { path: join(queueDir, 'private', writeService()) } });
  });

  after(async () => {
    closeClients();
    await reader.stop();
    await writer.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('approved inline: and texthash: lookups through the client table', async () => {
    const tables = createTableRegistry({ log });
    tables.registerType('proxy', proxyTableFactory(clientsOf(config)));
    const inline = proxyTableFactory(clientsOf(config))('inline:{ a=1, b=2 }', 'proxy:inline:{ a=1, b=2 }', tables);
    assert.equal(inline.spec, 'proxy:inline:{ a=1, b=2 }');
    assert.equal(inline.pattern, false);
    assert.equal(inline.update, undefined);
    assert.equal(await inline.lookup('a'), '1');
    assert.equal(await inline.lookup('b'), '2');
    assert.equal(await inline.lookup('c'), undefined);
    const th = proxyTableFactory(clientsOf(config))(`proxy:texthash:${text}`, `proxy:texthash:${text}`, tables);
    assert.equal(await th.lookup('spam.example'), 'REJECT go away');
    assert.equal(await th.lookup('other.example'), undefined);
    const all: string[] = [];
    for await (const [k, v] of th.entries!()) all.push(`${k}=${v}`);
    assert.deepEqual(all.sort(), ['example.com=OK', 'spam.example=REJECT go away']);
  });

  test('an unapproved table is refused with Postfix warnings', async () => {
    warnings.length = 0;
    const client = clientsOf(config).client(SERVICE.PROXYMAP);
    const cases: [string, string][] = [
      [`hash:${dir}/not-proxied`, 'read-only'],
      ['inline:{a=1}', 'read-only'],
    ];
    for (const [table, mode] of cases) {
      assert.deepEqual(await client.call('lookup', { table, key: 'x' }), { status: 'deny' });
      assert.ok(warnings.includes(`warning: request for unapproved table: "${table}"`), warnings.join('\n'));
      assert.ok(warnings.includes(`warning: to approve this table for ${mode} access, list proxy:${table} in main.cf:proxy_read_maps`));
    }
    const t = proxyTableFactory(clientsOf(config))('inline:{a=1}', 'proxy:inline:{a=1}', createTableRegistry({ log }));
    await assert.rejects(t.lookup('a'), (e) => isPosternError(e) && e.code === 'POSTERN_ERR_TABLE_LOOKUP' && /not approved/.test(e.message));
  });

  test('malformed requests and tables that cannot be opened fail cleanly', async () => {
    const client = clientsOf(config).client(SERVICE.PROXYMAP);
    assert.deepEqual(await client.call('lookup', { table: 'nocolon', key: 'x' }), { status: 'bad' });
    assert.deepEqual(await client.call('lookup', { table: 'inline:{ a=1, b=2 }' }), { status: 'bad' });
    warnings.length = 0;
    assert.deepEqual(await client.call('lookup', { table: `texthash:${dir}/missing`, key: 'x' }), { status: 'retry' });
    assert.ok(warnings.some((w) => w.includes(`texthash:${dir}/missing`)), warnings.join('\n'));
    // the service still answers afterwards
    assert.deepEqual(await client.call('lookup', { table: 'inline:{ a=1, b=2 }', key: 'a' }), { status: 'ok', value: '1' });
  });

  test('updates go through proxywrite only', async () => {
    warnings.length = 0;
    const ro = clientsOf(config).client(SERVICE.PROXYMAP);
    assert.deepEqual(await ro.call('update', { table: `lmdb:${db}`, key: 'k', value: 'v' }), { status: 'deny' });
    assert.ok(warnings.includes(`warning: refusing lmdb:${db} update request on non-proxywrite service`), warnings.join('\n'));
    assert.deepEqual(await ro.call('delete', { table: `lmdb:${db}`, key: 'k' }), { status: 'deny' });

    const rw = proxyTableFactory(clientsOf(config), { write: true })(`lmdb:${db}`, `proxy:lmdb:${db}`, createTableRegistry({ log }));
    await rw.update!('user@example.com', '0:0:1700000000:ok');
    assert.equal(await rw.lookup('user@example.com'), '0:0:1700000000:ok');
    // proxymap (read-only) sees the write, since lmdb:db is in proxy_read_maps too
    const rd = proxyTableFactory(clientsOf(config))(`lmdb:${db}`, `proxy:lmdb:${db}`, createTableRegistry({ log }));
    assert.equal(await rd.lookup('user@example.com'), '0:0:1700000000:ok');
    assert.equal(await rw.delete!('user@example.com'), true);
    assert.equal(await rw.delete!('user@example.com'), false);
    assert.equal(await rw.lookup('user@example.com'), undefined);
    // proxywrite checks proxy_write_maps
    const other = proxyTableFactory(clientsOf(config), { write: true })('inline:{ a=1, b=2 }', 'x', createTableRegistry({ log }));
    await assert.rejects(other.update!('a', '3'), /not approved/);
  });

  test('a service name other than proxymap/proxywrite is fatal', async () => {
    await assert.rejects(
      (async () => main(createServiceHost({ entry: entry('bogus', 1), config, log }).ctx))(),
      (e) => isPosternError(e) && e.message === 'service name must be one of proxymap or proxywrite',
    );
  });
});
