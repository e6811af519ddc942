/**
 * postqueue, postsuper, postcat, postkick, postlock and postlog as `postern`
 * subcommands, each run as a process against a real (stopped) Postern queue
 * written with openQueueStore.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DELIVERY_LOG, QUEUE, type QueueName } from '@postern/core';
import { openQueueStore, type LmdbQueueStore } from '@postern/queue-lmdb';

/** The postern command (POSTERN_TEST_BIN may name another entry with the same interface). */
const BIN = process.env['POSTERN_TEST_BIN'] ?? join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'bin', 'postern.js');

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function postern(args: readonly string[], input = ''): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.stdin.end(input);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const MULTIPART = [
  'From: Alice <alice@example.com>',
  'To: bob@example.net',
  'Subject: multipart test',
  'MIME-Version: 1.0',
  'Content-Type: multipart/mixed; boundary="XYZ"',
  '',
  'This is a MIME message.',
  '--XYZ',
  'Content-Type: text/plain; charset=us-ascii',
  '',
  'first part',
  '--XYZ',
  'Content-Type: application/octet-stream',
  'Content-Transfer-Encoding: base64',
  '',
  'AAECAwQF',
  '--XYZ--',
  '',
].join('\n');

describe('postern queue/super/cat/kick/lock/log (mail system stopped)', () => {
  let dir: string;
  let conf: string;
  let spool: string;
  let maillog: string;
  let store: LmdbQueueStore;
  const ids: Record<string, string> = {};

  async function put(queue: QueueName, sender: string, rcpts: string[], body: string, state?: { reason?: string; nextAttempt?: number }) {
    const w = store.createWriter();
    w.write(Buffer.from(body));
    const m = await w.commit({ sender, recipients: rcpts.map((address) => ({ address })), arrivalTime: Date.UTC(2020, 10, 21, 7, 0, 0) }, queue);
    if (state) await store.move(m.id, queue, state);
    return m.id;
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'postern-admin-'));
    conf = join(dir, 'etc');
    spool = join(dir, 'spool');
    maillog = join(dir, 'maillog');
    mkdirSync(conf, { recursive: true });
    mkdirSync(spool, { recursive: true });
    writeFileSync(
      join(conf, 'main.cf'),
      `queue_directory = ${spool}\nmaillog_file = ${maillog}\nmyhostname = mail.example.test\ndeliver_lock_attempts = 2\ndeliver_lock_delay = 1s\n`,
    );
    store = openQueueStore({ queueDirectory: spool });
    ids['active'] = await put(QUEUE.ACTIVE, 'alice@example.com', ['bob@example.net'], 'Subject: a\n\nhello\n');
    ids['deferred'] = await put(QUEUE.DEFERRED, 'carol@example.com', ['dave@example.net', 'erin@example.net', 'frank@example.org'], 'Subject: d\n\nbody\n', {
      reason: 'connect to mx.example.net[192.0.2.1]:25: Connection refused',
      nextAttempt: Date.now() + 3600_000,
    });
    await store.appendLog(DELIVERY_LOG.DEFER, ids['deferred']!, {
      recipient: 'frank@example.org',
      status: '4.4.1',
      action: 'delayed',
      reason: 'host mx.example.org[192.0.2.2] said: 451 try later',
      time: Date.now(),
    });
    ids['hold'] = await put(QUEUE.HOLD, '', ['postmaster@example.com'], MULTIPART);
  });

  after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('queue -p prints the mailq listing from the store, with markers, reasons and trailer', async () => {
    const r = await postern(['queue', '-c', conf, '-p']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /^postqueue: warning: Mail system is down -- accessing queue directly$/m);
    const lines = r.stdout.split('\n');
    assert.equal(lines[0], '----Queue ID----- --Size-- ---Arrival Time---- --Sender/Recipient------');
    const d = new Date(Date.UTC(2020, 10, 21, 7, 0, 0));
    const p2 = (n: number) => String(n).padStart(2, '0');
    const day = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'][d.getDay()];
    const mon = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'][d.getMonth()];
    const asc = `${day} ${mon} ${String(d.getDate()).padStart(2, ' ')} ${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())}`;
    assert.ok(r.stdout.includes(`${`${ids['active']}*`.padEnd(17)} ${'18'.padStart(8)} ${asc} alice@example.com\n${' '.repeat(47)}bob@example.net\n`), r.stdout);
    const refused = 'connect to mx.example.net[192.0.2.1]:25: Connection refused';
    const later = 'host mx.example.org[192.0.2.2] said: 451 try later';
    assert.ok(
      r.stdout.includes(
        `${ids['deferred']!.padEnd(17)} ${'17'.padStart(8)} ${asc} carol@example.com\n` +
          `${' '.repeat(76 - refused.length)}(${refused})\n${' '.repeat(47)}dave@example.net\n${' '.repeat(47)}erin@example.net\n` +
          `${' '.repeat(76 - later.length)}(${later})\n${' '.repeat(47)}frank@example.org\n`,
      ),
      r.stdout,
    );
    assert.ok(r.stdout.includes(`${`${ids['hold']}!`.padEnd(17)} ${String(Buffer.byteLength(MULTIPART)).padStart(8)} ${asc} MAILER-DAEMON\n`), r.stdout);
    assert.match(r.stdout, /\n\n-- 0 Kbytes in 3 Requests\.\n$/);
  });

  test('queue -j prints one JSON object per message with postqueue field names', async () => {
    const r = await postern(['queue', '-c', conf, '-j']);
    assert.equal(r.code, 0, r.stderr);
    const rows = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(rows.map((x) => x['queue_name']), ['active', 'deferred', 'hold']);
    const d = rows[1]!;
    assert.deepEqual(Object.keys(d), ['queue_name', 'queue_id', 'arrival_time', 'message_size', 'forced_expire', 'sender', 'recipients']);
    assert.equal(d['arrival_time'], Date.UTC(2020, 10, 21, 7, 0, 0) / 1000);
    assert.equal(d['forced_expire'], false);
    assert.deepEqual(d['recipients'], [
      { address: 'dave@example.net', delay_reason: 'connect to mx.example.net[192.0.2.1]:25: Connection refused' },
      { address: 'erin@example.net', delay_reason: 'connect to mx.example.net[192.0.2.1]:25: Connection refused' },
      { address: 'frank@example.org', delay_reason: 'host mx.example.org[192.0.2.2] said: 451 try later' },
    ]);
    assert.deepEqual(rows[0]!['recipients'], [{ address: 'bob@example.net' }]);
    assert.equal(rows[2]!['sender'], 'MAILER-DAEMON');
    assert.match(r.stdout.split('\n')[0]!, /^\{"queue_name": "active", "queue_id": "\w+", "arrival_time": \d+, /);
  });

  test('queue: usage errors and flush requests without a running system', async () => {
    const usage = await postern(['queue', '-c', conf]);
    assert.equal(usage.code, 64);
    assert.match(usage.stderr, /^postqueue: fatal: usage: postqueue -f \| postqueue -i queueid \| postqueue -j \| postqueue -p \| postqueue -s site$/m);
    const f = await postern(['queue', '-c', conf, '-f']);
    assert.equal(f.code, 69);
    assert.match(f.stderr, /postqueue: fatal: Cannot flush mail queue - mail system is down/);
    const s = await postern(['queue', '-c', conf, '-s', 'bad..site']);
    assert.equal(s.code, 64);
    assert.match(s.stderr, /invalid destination: "bad\.\.site"/);
    const i = await postern(['queue', '-c', conf, '-i', ids['deferred']!]);
    assert.equal(i.code, 69);
  });

  test('cat -q shows envelope, multipart content and markers; -h/-b/-o select', async () => {
    const id = ids['hold']!;
    const r = await postern(['cat', '-c', conf, '-q', id]);
    assert.equal(r.code, 0, r.stderr);
    const out = r.stdout;
    assert.ok(out.startsWith(`*** ENVELOPE RECORDS hold/${id} ***\nmessage_size: ${String(Buffer.byteLength(MULTIPART)).padStart(15)} `), out);
    assert.match(out, /^message_arrival_time: \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d 2020$/m);
    assert.match(out, /^create_time: /m);
    assert.match(out, /^sender: $/m);
    assert.match(out, /^recipient: postmaster@example\.com$/m);
    assert.ok(out.includes(`*** MESSAGE CONTENTS hold/${id} ***\n${MULTIPART}*** HEADER EXTRACTED hold/${id} ***\n*** MESSAGE FILE END hold/${id} ***\n`), out);
    const h = await postern(['cat', '-c', conf, '-h', '-q', id]);
    assert.equal(h.stdout, MULTIPART.slice(0, MULTIPART.indexOf('\n\n') + 1));
    const b = await postern(['cat', '-c', conf, '-b', '-q', id]);
    assert.equal(b.stdout, MULTIPART.slice(MULTIPART.indexOf('\n\n') + 1));
    const o = await postern(['cat', '-c', conf, '-bo', '-q', id]);
    const first = MULTIPART.indexOf('\n\n') + 1;
    assert.equal(o.stdout.split('\n')[0], `${String(first).padStart(9)} `);
    assert.equal(o.stdout.split('\n')[1], `${String(first + 1).padStart(9)} This is a MIME message.`);
    const v = await postern(['cat', '-c', conf, '-hv', '-q', id]);
    assert.match(v.stdout, /^regular_text: Subject: multipart test$/m);
  });

  test('cat: malformed and unknown queue IDs', async () => {
    const bad = await postern(['cat', '-c', conf, '-q', '../etc']);
    assert.equal(bad.code, 1);
    assert.equal(bad.stderr, 'postcat: fatal: bad mail queue ID: ../etc\n');
    const missing = await postern(['cat', '-c', conf, '-q', 'ABCDEF123']);
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr, 'postcat: fatal: open queue file ABCDEF123: No such file or directory\n');
  });

  test('super: hold, release (to deferred), delete from stdin, invalid IDs, counts', async () => {
    const hold = await postern(['super', '-c', conf, '-h', ids['active']!, '-h', 'not/an-id']);
    assert.equal(hold.code, 0, hold.stderr);
    assert.equal(
      hold.stderr,
      `postsuper: ${ids['active']}: placed on hold\npostsuper: warning: invalid mail queue id: not/an-id\npostsuper: Placed on hold: 1 message\n`,
    );
    assert.equal((await store.get(ids['active']!))?.queue, QUEUE.HOLD);
    const rel = await postern(['super', '-c', conf, '-H', 'ALL']);
    assert.equal(rel.code, 0, rel.stderr);
    assert.match(rel.stderr, /Released from hold: 2 messages\n$/);
    assert.equal((await store.get(ids['active']!))?.queue, QUEUE.DEFERRED);
    assert.equal((await store.get(ids['hold']!))?.queue, QUEUE.DEFERRED);
    // -d with a queue name restricts the search: hold has nothing now.
    const none = await postern(['super', '-c', conf, '-d', ids['hold']!, 'hold']);
    assert.equal(none.code, 0);
    assert.equal(none.stderr, 'postsuper: Deleted: 0 messages\n', 'postsuper reports the count of every operation asked for');
    assert.ok(await store.get(ids['hold']!));
    const del = await postern(['super', '-c', conf, '-d', '-'], `${ids['hold']}\n${ids['active']}\n`);
    assert.equal(del.code, 0, del.stderr);
    assert.equal(del.stderr, `postsuper: ${ids['hold']}: removed\npostsuper: ${ids['active']}: removed\npostsuper: Deleted: 2 messages\n`);
    assert.equal(await store.get(ids['hold']!), undefined);
    const bad = await postern(['super', '-c', conf, '-d', 'ALL', 'nosuchqueue']);
    assert.equal(bad.code, 1);
    assert.equal(bad.stderr, 'postsuper: fatal: invalid directory name: nosuchqueue\n');
    const log = readFileSync(maillog, 'utf8');
    assert.match(log, new RegExp(`postfix/postsuper\\[\\d+\\]: ${ids['hold']}: removed`));
    assert.match(log, /postfix\/postsuper\[\d+\]: Deleted: 2 messages/);
  });

  test('super -e force-expires (once), -f force-expires and releases from hold, - reads IDs from stdin', async () => {
    const deferred = await put(QUEUE.DEFERRED, 'x@example.com', ['y@example.net'], 'Subject: e\n\nbody\n', { reason: 'connect refused', nextAttempt: Date.now() + 3600_000 });
    const held = await put(QUEUE.HOLD, 'x@example.com', ['z@example.net'], 'Subject: f\n\nbody\n');
    const e = await postern(['super', '-c', conf, '-e', deferred, '-e', 'bad/id']);
    assert.equal(e.code, 0, e.stderr);
    assert.equal(e.stderr, `postsuper: ${deferred}: expired\npostsuper: warning: invalid mail queue id: bad/id\npostsuper: Force-expired: 1 message\n`);
    const d = await store.get(deferred);
    assert.equal(d?.queue, QUEUE.DEFERRED, '-e leaves the message where it is');
    assert.ok(d?.expired !== undefined && d.expired <= Date.now());
    assert.ok((d?.nextAttempt ?? 0) > Date.now() + 3000_000, '-e keeps the retry time (Postfix: returned at the next attempt)');
    const again = await postern(['super', '-c', conf, '-e', deferred]);
    assert.equal(again.stderr, 'postsuper: Force-expired: 0 messages\n', 'an expired message is not expired again');
    const he = await postern(['super', '-c', conf, '-e', held]);
    assert.equal(he.stderr, `postsuper: ${held}: expired\npostsuper: Force-expired: 1 message\n`);
    assert.equal((await store.get(held))?.queue, QUEUE.HOLD, '-e does not release from hold');
    const f = await postern(['super', '-c', conf, '-f', '-'], `${held}\n${deferred}\n`);
    assert.equal(f.code, 0, f.stderr);
    assert.equal(f.stderr, `postsuper: ${held}: released from hold\npostsuper: Force-expired: 0 messages\npostsuper: Released from hold: 1 message\n`);
    const h = await store.get(held);
    assert.equal(h?.queue, QUEUE.DEFERRED);
    assert.ok(h?.expired !== undefined && (h.nextAttempt ?? Infinity) <= Date.now(), 'released: due at once, still expired');
    const fresh = await put(QUEUE.HOLD, 'x@example.com', ['w@example.net'], 'Subject: g\n\nbody\n');
    const all = await postern(['super', '-c', conf, '-f', 'ALL', 'hold']);
    assert.equal(all.stderr, `postsuper: ${fresh}: expired\npostsuper: ${fresh}: released from hold\npostsuper: Force-expired: 1 message\npostsuper: Released from hold: 1 message\n`);
    assert.match(readFileSync(maillog, 'utf8'), new RegExp(`postfix/postsuper\\[\\d+\\]: ${deferred}: expired`));
    for (const id of [deferred, held, fresh]) await store.delete(id);
  });

  test('super -s checks the structure; -p has nothing to purge', async () => {
    const r = await postern(['super', '-c', conf, '-s', '-p', '-v']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /postsuper: structure check: 1 message\(s\), 0 problem\(s\)/);
    assert.match(r.stderr, /postsuper: purge: no temporary files/);
  });

  test('kick writes the request to the service socket, and fails like postkick when nobody listens', async () => {
    const pub = join(spool, 'public');
    mkdirSync(pub, { recursive: true });
    const got: string[] = [];
    const server: Server = createServer((s) => s.on('data', (d) => got.push(d.toString())));
    await new Promise<void>((resolve) => server.listen(join(pub, 'qmgr'), resolve));
    try {
      const ok = await postern(['kick', '-c', conf, 'public', 'qmgr', 'DA']);
      assert.equal(ok.code, 0, ok.stderr);
      for (let i = 0; i < 50 && got.join('') !== 'DA'; i++) await new Promise((r) => setTimeout(r, 20));
      assert.equal(got.join(''), 'DA');
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    const down = await postern(['kick', '-c', conf, 'public', 'pickup', 'W']);
    assert.equal(down.code, 1);
    assert.equal(down.stderr, 'postkick: warning: Cannot contact class public service pickup - perhaps the mail system is down\n');
    const usage = await postern(['kick', '-c', conf, 'public']);
    assert.equal(usage.code, 1);
    assert.match(usage.stderr, /postkick: fatal: usage: postkick \[-c config_dir\] \[-v\] class service request/);
  });

  test('lock runs the command with the mailbox locked; a held lock makes another lock fail with 75', async () => {
    const mbox = join(dir, 'mbox');
    const ok = await postern(['lock', '-c', conf, mbox, process.execPath, '-e', 'process.stdout.write("locked run"); process.exit(3)']);
    assert.equal(ok.code, 3, ok.stderr);
    assert.equal(ok.stdout, 'locked run');
    assert.ok(existsSync(mbox), 'the mailbox is created as mbox_open does');
    assert.ok(!existsSync(`${mbox}.lock`), 'the dot-lock is released');
    for (const style of ['dotlock', 'fcntl', 'flock']) {
      const holder = postern(['lock', '-c', conf, '-l', style, mbox, process.execPath, '-e', 'setTimeout(() => {}, 3500)']);
      await new Promise((r) => setTimeout(r, 1200));
      const busy = await postern(['lock', '-c', conf, '-l', style, mbox, process.execPath, '-e', '']);
      assert.equal(busy.code, 75, `${style}: ${busy.stderr}`);
      assert.match(busy.stderr, new RegExp(`^postlock: fatal: open file ${mbox.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: `, 'm'));
      assert.equal((await holder).code, 0);
      const after = await postern(['lock', '-c', conf, '-l', style, mbox, process.execPath, '-e', '']);
      assert.equal(after.code, 0, `${style} after release: ${after.stderr}`);
    }
  });

  test('log writes Postfix-shaped lines to maillog_file, from arguments or standard input', async () => {
    assert.equal((await postern(['log', '-c', conf, '-t', 'backup/script', '-p', 'warning', 'disk', 'almost', 'full'])).code, 0);
    assert.equal((await postern(['log', '-c', conf, '-i'], 'first line\nsecond line\n')).code, 0);
    const bad = await postern(['log', '-c', conf, '-p', 'loud', 'x']);
    assert.equal(bad.code, 1);
    assert.equal(bad.stderr, 'postlog: fatal: unknown priority value: loud\n');
    const log = readFileSync(maillog, 'utf8');
    assert.match(log, /^\w{3} [ \d]\d \d\d:\d\d:\d\d mail backup\/script\[\d+\]: warning: disk almost full$/m);
    assert.match(log, /^\w{3} [ \d]\d \d\d:\d\d:\d\d mail postfix\/postlog\[\d+\]: first line$/m);
    assert.match(log, /^\w{3} [ \d]\d \d\d:\d\d:\d\d mail postfix\/postlog\[\d+\]: second line$/m);
  });
});
