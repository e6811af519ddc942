/** The log follower against a real file: appends, partial lines, rotation, truncation, a late file. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, renameSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LogFollower } from '../src/metrics-tail.js';

function follower(path: string) {
  const lines: string[] = [];
  return { lines, f: new LogFollower(path, (l) => lines.push(l)) };
}

test('starts at the end, then hands over whole lines only', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'metrics-tail-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'maillog');
  writeFileSync(path, 'old 1\nold 2\n');
  const { lines, f } = follower(path);
  await f.poll();
  assert.deepEqual(lines, [], 'lines from before the start are not counted');
  appendFileSync(path, 'new 1\nnew 2 part');
  await f.poll();
  assert.deepEqual(lines, ['new 1']);
  appendFileSync(path, 'ial \u00e9\n');
  await f.poll();
  assert.deepEqual(lines, ['new 1', 'new 2 partial \u00e9']);
  await f.close();
});

test('rotation: the rest of the old file, then the new file from its start', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'metrics-tail-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'maillog');
  writeFileSync(path, '');
  const { lines, f } = follower(path);
  await f.poll();
  appendFileSync(path, 'a\n');
  renameSync(path, `${path}.1`);
  appendFileSync(`${path}.1`, 'b\n');
  writeFileSync(path, 'c c c\n');
  await f.poll();
  assert.deepEqual(lines, ['a', 'b', 'c c c']);
  truncateSync(path, 0);
  appendFileSync(path, 'd\n');
  await f.poll();
  assert.deepEqual(lines, ['a', 'b', 'c c c', 'd'], 'a truncated file is read again from its start');
  await f.close();
});

test('a file that appears after the start is read from its beginning', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'metrics-tail-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'maillog');
  const { lines, f } = follower(path);
  await f.poll();
  writeFileSync(path, 'first\n');
  await f.poll();
  // a missing file at the start means nothing was logged before it: its first lines count
  assert.deepEqual(lines, ['first']);
  await f.close();
});

test('a file that grows while it is being read is not taken for a truncated one', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'metrics-tail-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'maillog');
  writeFileSync(path, '');
  const { lines, f } = follower(path);
  await f.poll();
  // several read chunks' worth, then lines appended while the follower reads them
  const line = (i: number) => `line ${i} ${'x'.repeat(100)}`;
  let written = 0;
  appendFileSync(path, Array.from({ length: 30_000 }, () => `${line(written++)}\n`).join(''));
  let reading = true;
  const polled = f.poll().finally(() => (reading = false));
  while (reading) {
    appendFileSync(path, `${line(written++)}\n`);
    await new Promise((r) => setImmediate(r));
  }
  await polled;
  await f.poll();
  assert.equal(lines.length, written, 'every line once');
  assert.equal(new Set(lines).size, written, 'no line twice');
  await f.close();
});
