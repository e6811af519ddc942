import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { isLongQueueId, isQueueId, newQueueId, queueIdTime } from '@postern/core';

const CHILD = fileURLToPath(new URL('./fixtures/queue-writer-child.js', import.meta.url));
const run = promisify(execFile);

test('newQueueId makes long Postfix queue IDs', () => {
  const before = Date.now();
  const id = newQueueId();
  const after = Date.now();
  assert.match(id, /^[0-9B-DF-HJ-NP-TV-Zb-df-hj-np-tv-z]{10}z[0-9B-DF-HJ-NP-TV-Zb-df-hj-np-tv-y]+$/);
  assert.ok(isLongQueueId(id));
  const time = queueIdTime(id);
  assert.ok(time !== undefined && time >= before - 1 && time <= after + 1, `${time} not in [${before}, ${after}]`);
});

test('queue IDs decode like Postfix: base-52 seconds and microseconds', () => {
  // 1700000000 s = base-52 digits 4 24 26 18 11 36 = "4SVLCh" in the safe alphabet;
  // 123456 us = 0 45 34 8 = "0sf8"; then "z" and the inode part.
  assert.equal(queueIdTime('4SVLCh0sf8z1'), 1700000000123);
});

const cases: readonly [string, boolean, string][] = [
  ['4SVLCh0sf8z1', true, 'long ID'],
  ['4Fb1xT3LbfzZ2pK', true, 'long ID, longer inode part'],
  ['4SVLChz0sf8z1', true, "seconds part may contain 'z'"],
  ['4SVLCh0sf8zz1', false, "inode part (base 51) never contains 'z'"],
  ['4SVLC0sf8z1', false, 'time part too short'],
  ['4SVLCh0sf8z', false, 'empty inode part'],
  ['4SVLChzzzzz1', false, 'microseconds out of range'],
  ['4SaLCh0sf8z1', false, 'vowel not in the safe alphabet'],
  ['3F2E81C0A5', true, 'short hex ID (enable_long_queue_ids = no)'],
  ['3f2e81c0a5', false, 'short IDs are upper case'],
  ['', false, 'empty'],
  ['../../etc/passwd', false, 'path'],
  ['4SVLCh0sf8z1/', false, 'trailing slash'],
];

for (const [id, valid, what] of cases) {
  test(`isQueueId(${JSON.stringify(id)}) = ${valid}: ${what}`, () => {
    assert.equal(isQueueId(id), valid);
  });
}

test('a burst of IDs is unique and strictly increasing', () => {
  const ids = Array.from({ length: 20000 }, () => newQueueId());
  assert.equal(new Set(ids).size, ids.length);
  for (let i = 1; i < ids.length; i++) assert.ok(ids[i - 1] < ids[i], `${ids[i - 1]} !< ${ids[i]}`);
  for (let i = 1; i < ids.length; i++) assert.ok(queueIdTime(ids[i - 1])! <= queueIdTime(ids[i])!);
});

test('IDs from two processes at once are unique; string order is time order', async () => {
  const [a, b] = await Promise.all([run(process.execPath, [CHILD, 'ids', '20000']), run(process.execPath, [CHILD, 'ids', '20000'])]);
  const ids = [...a.stdout.trim().split('\n'), ...b.stdout.trim().split('\n')];
  assert.equal(ids.length, 40000);
  assert.equal(new Set(ids).size, ids.length);
  const sorted = [...ids].sort();
  for (let i = 1; i < sorted.length; i++) assert.ok(queueIdTime(sorted[i - 1])! <= queueIdTime(sorted[i])!);
});
