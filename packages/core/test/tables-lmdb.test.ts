import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type LmdbTable, createTableRegistry, isPosternError } from '../src/index.js';

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'postern-lmdb-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('lmdb: missing file rejects lookups with POSTERN_ERR_TABLE_OPEN', async (t) => {
  const dir = tempDir(t);
  const tbl = createTableRegistry().open(`lmdb:${dir}/none`);
  await assert.rejects(tbl.lookup('x'), (e: unknown) => isPosternError(e, 'POSTERN_ERR_TABLE_OPEN') && /none\.lmdb: No such file/.test(e.message));
});

test('lmdb: rebuild, folded lookup, update, delete, entries', async (t) => {
  const dir = tempDir(t);
  const tbl = createTableRegistry().open(`lmdb:${dir}/virtual`) as LmdbTable;
  await tbl.rebuild([['a@example.com', 'one'], ['b@example.com', 'two']], true);
  assert.ok(existsSync(join(dir, 'virtual.lmdb')));
  assert.equal(await tbl.lookup('A@Example.COM'), 'one');
  await tbl.update('C@example.com', 'three');
  assert.equal(await tbl.lookup('c@example.com'), 'three');
  assert.equal(await tbl.delete('B@EXAMPLE.COM'), true);
  assert.equal(await tbl.delete('b@example.com'), false);
  const all: (readonly [string, string])[] = [];
  for await (const e of tbl.entries()) all.push(e);
  assert.deepEqual(all, [['a@example.com', 'one'], ['c@example.com', 'three']]);
  await tbl.rebuild([['only', 'x']], true);
  assert.equal(await tbl.lookup('a@example.com'), undefined);
  assert.equal(await tbl.lookup('only'), 'x');
  await tbl.close();
});

test('lmdb: a table built without folding is case-sensitive', async (t) => {
  const dir = tempDir(t);
  const tbl = createTableRegistry().open(`lmdb:${dir}/cs`) as LmdbTable;
  await tbl.rebuild([['Key', 'v']], false);
  assert.equal(await tbl.folds(), false);
  assert.equal(await tbl.lookup('Key'), 'v');
  assert.equal(await tbl.lookup('key'), undefined);
  await tbl.close();
});

test('lmdb: a reader in another registry sees rebuilds and file replacement', async (t) => {
  const dir = tempDir(t);
  const writer = createTableRegistry().open(`lmdb:${dir}/m`) as LmdbTable;
  await writer.rebuild([['k', 'v1']], true);
  const reader = createTableRegistry().open(`lmdb:${dir}/m`);
  assert.equal(await reader.lookup('k'), 'v1');
  await writer.rebuild([['k', 'v2']], true);
  assert.equal(await reader.lookup('k'), 'v2');
  await writer.close();
  const other = createTableRegistry().open(`lmdb:${dir}/other`) as LmdbTable;
  await other.rebuild([['k', 'replaced']], true);
  await other.close();
  renameSync(join(dir, 'other.lmdb'), join(dir, 'm.lmdb'));
  assert.equal(await reader.lookup('k'), 'replaced');
  await reader.close!();
});
