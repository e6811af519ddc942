import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LmdbTable, createTableRegistry } from '../src/index.js';
import { isPosternError, splitTableList } from '@postern/core';
import type { Logger } from '@postern/core';

export function memoryLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const log = {
    lines,
    verbose: false,
    info: (t: string) => void lines.push(t),
    warn: (t: string) => void lines.push(`warning: ${t}`),
    error: (t: string) => void lines.push(`error: ${t}`),
    fatal: (t: string) => void lines.push(`fatal: ${t}`),
    panic: (t: string) => void lines.push(`panic: ${t}`),
    debug: () => undefined,
    child: () => log,
  };
  return log;
}

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'postern-tables-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('splitTableList keeps inline braces intact', () => {
  assert.deepEqual(splitTableList('hash:/a, regexp:/b  inline:{ a=b, { c = d e } },static:{ x y }'), [
    'hash:/a',
    'regexp:/b',
    'inline:{ a=b, { c = d e } }',
    'static:{ x y }',
  ]);
  assert.deepEqual(splitTableList('regexp:{ {/a b/ c}, {/d/ e} },pcre:{{/^[^A-Z]/ Bogus}}\n\tcidr:{ {10.0.0.0/8 OK} } hash:/x'), [
    'regexp:{ {/a b/ c}, {/d/ e} }',
    'pcre:{{/^[^A-Z]/ Bogus}}',
    'cidr:{ {10.0.0.0/8 OK} }',
    'hash:/x',
  ]);
});

test('openList opens each inline pattern table of a list whole', async () => {
  const [re, pcre, inl] = createTableRegistry().openList('regexp:{ {/a b/ c}, {/d/ e} }, pcre:{ {/^x, y$/ z} }, inline:{ k=v }');
  assert.equal(await re!.lookup('xa by'), 'c');
  assert.equal(await re!.lookup('d'), 'e');
  assert.equal(await pcre!.lookup('x, y'), 'z');
  assert.equal(await inl!.lookup('k'), 'v');
});

const INLINE: [string, string, string | undefined][] = [
  ['inline:{ key=value, { other = text with spaces }, Upper=U }', 'key', 'value'],
  ['inline:{ key=value, { other = text with spaces }, Upper=U }', 'OTHER', 'text with spaces'],
  ['inline:{ key=value, { other = text with spaces }, Upper=U }', 'upper', 'U'],
  ['inline:{ key=value, { other = text with spaces }, Upper=U }', 'nope', undefined],
  ['static:relay', 'anything', 'relay'],
  ['static:{ text with spaces }', 'x', 'text with spaces'],
];
for (const [spec, key, want] of INLINE) {
  test(`${spec} lookup ${key}`, async () => {
    const reg = createTableRegistry();
    assert.equal(await reg.open(spec).lookup(key), want);
  });
}

test('inline: syntax errors', () => {
  const reg = createTableRegistry();
  assert.throws(() => reg.open('inline:{ novalue }'), (e: unknown) => isPosternError(e, 'POSTERN_ERR_TABLE_OPEN') && /expected name=value/.test(e.message));
  assert.throws(() => reg.open('inline:{ }'), /empty table/);
  assert.throws(() => reg.open('inline:a=b'), /expected \{name=value/);
});

test('registry: same spec gives the same object; openList', () => {
  const reg = createTableRegistry();
  const a = reg.open('static:x');
  assert.equal(reg.open('static:x'), a);
  const list = reg.openList('static:x, inline:{ a=b }');
  assert.equal(list.length, 2);
  assert.equal(list[0], a);
  assert.equal(list[1]!.type, 'inline');
});

test('registry: unknown type lists supported types', () => {
  const reg = createTableRegistry();
  assert.throws(
    () => reg.open('mysql:/etc/postfix/x.cf'),
    (e: unknown) => isPosternError(e, 'POSTERN_ERR_TABLE_TYPE') && e.message === 'unsupported dictionary type: mysql' && /lmdb/.test(e.hint!) && /regexp/.test(e.hint!),
  );
  assert.throws(() => reg.open('nocolon'), (e: unknown) => isPosternError(e, 'POSTERN_ERR_TABLE_OPEN'));
});

test('registry: hash:/btree: open lmdb with one notice per type; proxy: is dropped', (t) => {
  const dir = tempDir(t);
  const log = memoryLogger();
  const reg = createTableRegistry({ log });
  const a = reg.open(`hash:${dir}/x`);
  const b = reg.open(`hash:${dir}/y`);
  const c = reg.open(`btree:${dir}/x`);
  const d = reg.open(`proxy:lmdb:${dir}/x`);
  assert.ok(a instanceof LmdbTable);
  assert.equal(a, c);
  assert.equal(a, d);
  assert.notEqual(a, b);
  assert.equal(a.spec, `lmdb:${dir}/x`);
  assert.deepEqual(log.lines, [
    `notice: hash:${dir}/x: using lmdb:${dir}/x (Postern's indexed table type; build it with "postern postmap hash:${dir}/x")`,
    `notice: btree:${dir}/x: using lmdb:${dir}/x (Postern's indexed table type; build it with "postern postmap btree:${dir}/x")`,
  ]);
});

test('registry: plugins register types', async () => {
  const reg = createTableRegistry();
  reg.registerType('upper', (name, spec) => ({ spec, type: 'upper', pattern: false, lookup: async (k: string) => `${name}:${k.toUpperCase()}` }));
  assert.ok(reg.types().includes('upper'));
  assert.equal(await reg.open('upper:n').lookup('x'), 'n:X');
});

test('fail: lookups reject', async () => {
  const reg = createTableRegistry();
  await assert.rejects(reg.open('fail:test').lookup('x'), (e: unknown) => isPosternError(e, 'POSTERN_ERR_TABLE_LOOKUP'));
});

test('texthash: lookups, folding, duplicate warning, reload on change', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'virtual');
  writeFileSync(file, 'User@Example.com local\nuser@example.com dup\n');
  const log = memoryLogger();
  const reg = createTableRegistry({ log });
  const tbl = reg.open(`texthash:${file}`);
  assert.equal(await tbl.lookup('USER@example.COM'), 'local');
  assert.deepEqual(log.lines, [`warning: ${file}, line 2: duplicate entry: "user@example.com"`]);
  writeFileSync(file, 'user@example.com changed\nother x\n');
  utimesSync(file, new Date(), new Date(Date.now() + 5000));
  assert.equal(await tbl.lookup('user@example.com'), 'changed');
  assert.equal(await tbl.lookup('other'), 'x');
  const all = [];
  for await (const e of tbl.entries!()) all.push(e);
  assert.deepEqual(all, [['user@example.com', 'changed'], ['other', 'x']]);
});

test('texthash: missing file is POSTERN_ERR_TABLE_OPEN', (t) => {
  const dir = tempDir(t);
  const reg = createTableRegistry();
  assert.throws(() => reg.open(`texthash:${dir}/none`), (e: unknown) => isPosternError(e, 'POSTERN_ERR_TABLE_OPEN') && /No such file/.test(e.message));
});

test('regexp: and pcre: file tables with warnings through the logger; reload', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'checks');
  writeFileSync(file, '/^(.*)@example\\.com$/ $1\n/bad(/ x\n');
  const log = memoryLogger();
  const reg = createTableRegistry({ log });
  const re = reg.open(`regexp:${file}`);
  assert.equal(re.pattern, true);
  assert.equal(await re.lookup('Joe@Example.com'), 'Joe');
  assert.ok(log.lines.some((l) => l.startsWith(`warning: regexp map ${file}, line 2:`)));
  const pc = reg.open(`pcre:${file}`);
  assert.equal(await pc.lookup('ann@example.com'), 'ann');
  writeFileSync(file, '/^(.*)@example\\.com$/ new-$1\n');
  utimesSync(file, new Date(), new Date(Date.now() + 5000));
  assert.equal(await re.lookup('a@example.com'), 'new-a');
});

test('cidr: file table', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'clients.cidr');
  writeFileSync(file, '10.0.0.0/8 OK\n2001:db8::/32 v6\n');
  const reg = createTableRegistry();
  const c = reg.open(`cidr:${file}`);
  assert.equal(c.pattern, true);
  assert.equal(await c.lookup('10.9.8.7'), 'OK');
  assert.equal(await c.lookup('2001:db8::7'), 'v6');
  assert.equal(await c.lookup('11.0.0.1'), undefined);
});

test('unix:passwd.byname and unix:group.byname', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'passwd'), 'root:x:0:0:root:/root:/bin/bash\nbob:x:1000:1000:Bob B,,,:/home/bob:/bin/sh\n');
  writeFileSync(join(dir, 'group'), 'mail:x:8:bob,alice\n');
  const reg = createTableRegistry({ unixFiles: { passwd: join(dir, 'passwd'), group: join(dir, 'group') } });
  assert.equal(await reg.open('unix:passwd.byname').lookup('bob'), 'bob:x:1000:1000:Bob B,,,:/home/bob:/bin/sh');
  assert.equal(await reg.open('unix:passwd.byname').lookup('nobody'), undefined);
  assert.equal(await reg.open('unix:group.byname').lookup('mail'), 'mail:x:8:bob,alice');
  assert.throws(() => reg.open('unix:shadow.byname'), /unknown table/);
});
