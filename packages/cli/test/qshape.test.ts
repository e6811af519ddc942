/**
 * qshape(1) over a Postern queue: messages queued with known ages, the table
 * checked cell by cell, and compared with the real /usr/sbin/qshape (Postfix's
 * Perl script) run over Postfix queue files holding the same envelopes with
 * the same ages.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { QUEUE, type QueueName } from '@postern/core';
import { openQueueStore, type LmdbQueueStore } from '@postern/queue-lmdb';

const SHIM = fileURLToPath(new URL('../../bin/qshape.js', import.meta.url));
const POSTERN = fileURLToPath(new URL('../../bin/postern.js', import.meta.url));
const REAL = '/usr/sbin/qshape';
const noReal = existsSync(REAL) && existsSync('/usr/bin/perl') ? false : 'the real Postfix qshape (/usr/sbin/qshape, perl) is not installed';

interface Msg {
  readonly queue: QueueName;
  readonly sender: string;
  readonly rcpts: readonly string[];
  /** Age in minutes, chosen in the middle of a bucket so that a slow run cannot move it. */
  readonly age: number;
}

const MESSAGES: readonly Msg[] = [
  { queue: QUEUE.DEFERRED, sender: 'a@example.com', rcpts: ['x@example.net', 'y@example.net'], age: 2 },
  { queue: QUEUE.DEFERRED, sender: 'b@example.com', rcpts: ['z@example.net'], age: 7.5 },
  { queue: QUEUE.DEFERRED, sender: '', rcpts: ['p@mx1.example.org'], age: 15 },
  { queue: QUEUE.DEFERRED, sender: 'c@Example.COM', rcpts: ['q@MX2.example.org', 'r@mx3.example.org'], age: 30 },
  { queue: QUEUE.DEFERRED, sender: 'd@sub.example.com', rcpts: ['s@mx4.example.org', 't@mx5.example.org'], age: 300 },
  { queue: QUEUE.DEFERRED, sender: 'e@example.com', rcpts: ['u@a-very-long-subdomain-name.of.a-rather-long-example.org'], age: 3000 },
  { queue: QUEUE.HOLD, sender: 'f@example.com', rcpts: ['v@held.example'], age: 12 },
  { queue: QUEUE.ACTIVE, sender: 'g@example.com', rcpts: ['w@example.net'], age: 1 },
];

/** A Postfix queue file as qshape reads it: S, R..., M, X, E records (the age is the file's mtime). */
function postfixQueueFile(m: Msg): Buffer {
  const rec = (type: string, data: string) => {
    const d = Buffer.from(data);
    const len: number[] = [];
    let l = d.length;
    do {
      len.push((l & 0x7f) | (l > 0x7f ? 0x80 : 0));
      l >>= 7;
    } while (l > 0);
    return Buffer.concat([Buffer.from(type), Buffer.from(len), d]);
  };
  return Buffer.concat([rec('S', m.sender), ...m.rcpts.map((r) => rec('R', r)), rec('M', ''), rec('X', ''), rec('E', '')]);
}

describe('qshape', () => {
  let dir: string;
  let conf: string;
  let spool: string;
  let pfqueue: string;
  let store: LmdbQueueStore;
  const now = Date.now();

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'postern-qshape-'));
    conf = join(dir, 'etc');
    spool = join(dir, 'spool');
    pfqueue = join(dir, 'postfix');
    for (const d of [conf, spool, pfqueue]) mkdirSync(d, { recursive: true });
    writeFileSync(join(conf, 'main.cf'), `queue_directory = ${spool}\n`);
    store = openQueueStore({ queueDirectory: spool });
    let n = 0;
    for (const m of MESSAGES) {
      const arrival = now - m.age * 60_000;
      const w = store.createWriter();
      w.write(Buffer.from('Subject: qshape\n\nbody\n'));
      await w.commit({ sender: m.sender, recipients: m.rcpts.map((address) => ({ address })), arrivalTime: arrival }, m.queue);
      const qdir = join(pfqueue, m.queue);
      mkdirSync(qdir, { recursive: true });
      const file = join(qdir, `4ABCDE${String(n++).padStart(4, '0')}`);
      writeFileSync(file, postfixQueueFile(m));
      chmodSync(file, 0o700);
      utimesSync(file, arrival / 1000, arrival / 1000);
    }
    // A message whose recipients are all delivered is not counted (Postfix: no R record left).
    const w = store.createWriter();
    w.write(Buffer.from('x\n'));
    const done = await w.commit({ sender: 'h@example.com', recipients: [{ address: 'done@example.net' }], arrivalTime: now }, QUEUE.DEFERRED);
    await store.updateRecipients(done.id, [{ index: 0, done: true }]);
    await store.close();
  });

  after(() => rmSync(dir, { recursive: true, force: true }));

  const qshape = (...args: string[]) => spawnSync(process.execPath, [SHIM, '-c', conf, ...args], { encoding: 'utf8' });
  const real = (...args: string[]) => spawnSync('perl', [REAL, ...args], { encoding: 'utf8' });

  test('the deferred queue by recipient domain: header, TOTAL, counts per bucket', () => {
    const r = qshape('deferred');
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.split('\n');
    assert.equal(lines[0], '                                         T  5 10 20 40 80 160 320 640 1280 1280+');
    assert.equal(lines[1], '                                  TOTAL  9  2  1  1  2  0   0   2   0    0     1');
    assert.equal(lines[2], '                            example.net  3  2  1  0  0  0   0   0   0    0     0');
    assert.match(r.stdout, /^ {24}mx1\.example\.org  1  0  0  1  0/m);
    assert.match(r.stdout, /^\+[a-z.-]{38}  1  0  0  0  0  0   0   0   0    0     1$/m);
    assert.equal(lines[0]!.length, 80);
  });

  test('-s counts sender domains (null sender as MAILER-DAEMON); -p adds parent domains', () => {
    const s = qshape('-s', 'deferred');
    assert.match(s.stdout, /^ +example\.com  4 /m);
    assert.match(s.stdout, /^ +MAILER-DAEMON  1 /m);
    const p = qshape('-p', 'deferred');
    assert.match(p.stdout, /^ +\.example\.org  5 /m);
    assert.doesNotMatch(qshape('-p', '-m', '6', 'deferred').stdout, /^ +\.example\.org/m);
  });

  test('-b, -t, -l change the buckets; default queues are incoming and active', () => {
    assert.equal(qshape('-b', '3', '-t', '10', 'deferred').stdout.split('\n')[0]!.trimStart(), 'T 10 20 20+');
    assert.equal(qshape('-l', '-b', '4', 'deferred').stdout.split('\n')[0]!.trimStart(), 'T  5 10 15 15+');
    const d = qshape();
    assert.match(d.stdout, /^ +TOTAL  1  1 /m);
    assert.equal(spawnSync(process.execPath, [POSTERN, 'qshape', '-c', conf, 'hold'], { encoding: 'utf8' }).stdout.split('\n')[1], qshape('hold').stdout.split('\n')[1]);
    assert.equal(qshape('nosuch').status, 1);
  });

  test('the same table as the real qshape over Postfix queue files of the same ages', { skip: noReal }, () => {
    for (const args of [[], ['-s'], ['-p'], ['-p', '-m', '2'], ['-l', '-b', '6', '-t', '3'], ['-b', '4'], ['-w', '100']]) {
      for (const queue of ['deferred', 'hold']) {
        const mine = qshape(...args, queue);
        const theirs = real(...args, join(pfqueue, queue));
        assert.equal(theirs.status, 0, theirs.stderr);
        // Lines with the same count tie; the Perl script orders ties by hash order: compare sorted.
        const rows = (t: string) => {
          const [head, ...rest] = t.split('\n');
          return [head, ...rest.sort()];
        };
        assert.deepEqual(rows(mine.stdout), rows(theirs.stdout), `qshape ${args.join(' ')} ${queue}`);
      }
    }
  });
});
