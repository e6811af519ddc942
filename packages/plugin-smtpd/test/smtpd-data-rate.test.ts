/**
 * smtpd_per_request_deadline and smtpd_min_data_rate (Postfix 3.7): DATA
 * content has smtpd_timeout in all, plus 1/smtpd_min_data_rate seconds per
 * byte read. With smtpd_timeout 2s and a rate of 1000 B/s, a client sending
 * 50 B/s runs out of time; one sending 20 KB/s for 4 s does not; and without
 * the deadline the slow one is served, since every line arrives in time.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RawClient, startRig } from './helpers.js';

async function transaction(c: RawClient): Promise<void> {
  await c.reply();
  await c.cmd('EHLO client.example');
  assert.equal(await c.cmd('MAIL FROM:<a@example.com>'), '250 2.1.0 Ok');
  assert.equal(await c.cmd('RCPT TO:<b@example.com>'), '250 2.1.5 Ok');
  assert.equal(await c.cmd('DATA'), '354 End data with <CR><LF>.<CR><LF>');
}

/** Sends `line` every `everyMs` for `forMs`, then the end of data; resolves to the reply. */
async function send(c: RawClient, line: string, everyMs: number, forMs: number): Promise<string | undefined> {
  const until = Date.now() + forMs;
  const tick = setInterval(() => {
    if (c.closed) return;
    if (Date.now() < until) c.socket.write(line);
    else {
      clearInterval(tick);
      c.socket.write('.\r\n');
    }
  }, everyMs);
  try {
    return await c.reply();
  } finally {
    clearInterval(tick);
  }
}

const rate = { smtpd_timeout: '2s', smtpd_min_data_rate: '1000' };

test('per_request_deadline: a client that trickles DATA below smtpd_min_data_rate gets 421 and "timeout after DATA (N bytes)"', { timeout: 20_000 }, async () => {
  const rig = await startRig({ ...rate, smtpd_per_request_deadline: 'yes' });
  try {
    const c = await RawClient.open(rig.port);
    await transaction(c);
    // 10 bytes every 200 ms: 50 B/s, each line in time for a per-read limit
    assert.equal(await send(c, 'abcdefgh\r\n', 200, 8000), '421 4.4.2 mx.example.com Error: timeout exceeded');
    await c.waitClose();
    const line = await rig.log.waitFor(/^timeout after DATA/);
    assert.match(line, /^timeout after DATA \((\d+) bytes\) from unknown\[127\.0\.0\.1\]$/);
    assert.ok(Number(/\((\d+) bytes\)/.exec(line)![1]) > 0, line);
    assert.equal(rig.cleanup.submitted.length, 0);
  } finally {
    await rig.stop();
  }
});

test('per_request_deadline: a steady client above smtpd_min_data_rate sends for longer than smtpd_timeout and is accepted', { timeout: 20_000 }, async () => {
  const rig = await startRig({ ...rate, smtpd_per_request_deadline: 'yes' });
  try {
    const c = await RawClient.open(rig.port);
    await transaction(c);
    // 2 KB every 100 ms: 20 KB/s for 4 s
    const line = `${'x'.repeat(2046)}\r\n`;
    assert.match((await send(c, line, 100, 4000)) ?? '', /^250 2\.0\.0 Ok: queued as /);
    assert.equal(rig.cleanup.submitted.length, 1);
    assert.ok(rig.cleanup.submitted[0]!.content.length > 2048 * 20);
    assert.equal(await c.cmd('QUIT'), '221 2.0.0 Bye');
  } finally {
    await rig.stop();
  }
});

test('per_request_deadline=no: the trickle is accepted, each line arriving within smtpd_timeout', { timeout: 20_000 }, async () => {
  const rig = await startRig({ ...rate, smtpd_per_request_deadline: 'no' });
  try {
    const c = await RawClient.open(rig.port);
    await transaction(c);
    // 50 B/s for 4 s, twice smtpd_timeout
    assert.match((await send(c, 'abcdefgh\r\n', 200, 4000)) ?? '', /^250 2\.0\.0 Ok: queued as /);
    assert.equal(rig.cleanup.submitted.length, 1);
  } finally {
    await rig.stop();
  }
});

test('smtpd_per_request_deadline follows smtpd_per_record_deadline, and stress mode turns it on', async () => {
  for (const [params, overrides, want] of [
    [{}, {}, false],
    [{}, { stress: 'yes' }, true],
    [{ smtpd_per_record_deadline: 'yes' }, {}, true],
    [{ smtpd_per_record_deadline: 'no' }, { stress: 'yes' }, false],
  ] as const) {
    const rig = await startRig(params, { overrides });
    try {
      assert.equal(rig.config.bool('smtpd_per_request_deadline'), want, JSON.stringify([params, overrides]));
    } finally {
      await rig.stop();
    }
  }
});
