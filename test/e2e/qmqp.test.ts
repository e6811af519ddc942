/**
 * qmqpd(8) end to end: the real server under `postern start-fg`, a QMQP
 * client written here, cleanup queueing into the real queue (held by a
 * header check so the queued envelope can be read).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { openQueueStore, QUEUE } from '@postern/core';
import { freePort, Instance } from '../lib/instance.js';

const ns = (b: Buffer | string): Buffer => {
  const body = Buffer.isBuffer(b) ? b : Buffer.from(b);
  return Buffer.concat([Buffer.from(`${body.length}:`), body, Buffer.from(',')]);
};
const packet = (message: string, sender: string, rcpts: string[]) => ns(Buffer.concat([ns(message), ns(sender), ...rcpts.map((r) => ns(r))]));

function qmqp(port: number, bytes: Buffer | string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    let got = '';
    s.on('data', (d: Buffer) => (got += d.toString()));
    s.on('error', reject);
    s.on('close', () => resolve(got));
    s.write(bytes);
  });
}

describe('qmqpd', () => {
  let inst: Instance;
  let port: number;
  let deniedPort: number;

  before(async () => {
    port = await freePort();
    deniedPort = await freePort();
    inst = new Instance({
      main: { qmqpd_authorized_clients: '127.0.0.0/8', qmqpd_error_delay: '0s' },
      master: [
        `127.0.0.1:${port} inet n - n - - qmqpd`,
        `127.0.0.1:${deniedPort} inet n - n - - qmqpd`,
        '  -o qmqpd_authorized_clients=192.0.2.0/24',
        'cleanup   unix  n       -       n       -       0       cleanup',
        'rewrite   unix  -       -       n       -       -       trivial-rewrite',
        '',
      ].join('\n'),
    });
    writeFileSync(join(inst.configDir, 'hold'), '/^Subject: /  HOLD\n');
    inst.writeMain({ qmqpd_authorized_clients: '127.0.0.0/8', qmqpd_error_delay: '0s', header_checks: `regexp:${join(inst.configDir, 'hold')}` });
    await inst.start();
  });
  after(async () => {
    await inst.dispose();
  });

  test('an accepted message lands in the queue with its envelope', async () => {
    const reply = await qmqp(port, packet('Subject: qmqp\n\nhello\n', 'from@example.test', ['a@example.test', 'b@example.test']));
    const m = /^\d+:KOk: queued as (\w+),$/.exec(reply);
    assert.ok(m, reply);
    const id = m[1]!;
    await inst.waitForLog(new RegExp(`postfix/qmqpd\\[\\d+\\]: ${id}: client=\\S+\\[127\\.0\\.0\\.1\\]`));
    await inst.waitForLog(/postfix\/qmqpd\[\d+\]: disconnect from \S+\[127\.0\.0\.1\]/);
    const store = openQueueStore({ queueDirectory: inst.queueDir });
    try {
      const q = await store.get(id);
      assert.equal(q?.queue, QUEUE.HOLD);
      assert.equal(q?.sender, 'from@example.test');
      assert.deepEqual(q?.recipients.map((r) => r.address), ['a@example.test', 'b@example.test']);
      assert.equal(q?.client?.protocol, 'QMQP');
      assert.equal(q?.client?.address, '127.0.0.1');
      let content = '';
      for await (const c of store.readContent(id)) content += c.toString();
      assert.match(content, /^Received: from \S+ \(\S+ \[127\.0\.0\.1\]\)\n\tby mail\.example\.test \(Postern\) with QMQP\n\tid \w+; /);
    } finally {
      await store.close();
    }
  });

  test('two messages on two connections', async () => {
    const replies = await Promise.all([
      qmqp(port, packet('Subject: one\n\n1\n', 'x@example.test', ['one@example.test'])),
      qmqp(port, packet('Subject: two\n\n2\n', 'y@example.test', ['two@example.test'])),
    ]);
    const ids = replies.map((r) => /KOk: queued as (\w+),$/.exec(r)?.[1]);
    assert.ok(ids[0] && ids[1] && ids[0] !== ids[1], replies.join(' | '));
  });

  test('an unauthorized client gets D; a malformed netstring gets D; the server keeps serving', async () => {
    assert.match(await qmqp(deniedPort, packet('Subject: no\n\n', 'a@b', ['c@d'])), /^\d+:DError: \S+\[127\.0\.0\.1\] is not authorized to use this service,$/);
    assert.match(await qmqp(port, '12:3:abc;xxxxxxx,'), /^\d+:DError: netstring format error while receiving message content,$/);
    assert.match(await qmqp(port, packet('Subject: after\n\n', 'a@example.test', ['c@example.test'])), /KOk: queued as/);
  });
});
