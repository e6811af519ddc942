/**
 * Hostile clients (issue 16): an overlong command line or SASL response is
 * answered, a client that drips a command byte by byte is dropped after
 * smtpd_timeout, a TLS ClientHello on the plaintext port gets a reply, and a
 * full queue file system is refused at MAIL FROM (queue_minfree).
 * These also pin the smtp-server internals the parser override relies on
 * (SMTPStream's _write/_dataMode, SMTPConnection's _nextHandler and _onClose).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTableRegistry } from '@postern/core';
import { SMTPStream } from 'smtp-server/lib/smtp-stream.js';
import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';
import { RawClient, startRig } from './helpers.js';

test('smtp-server internals the command parser overrides are still there', () => {
  const stream = SMTPStream.prototype as unknown as Record<string, unknown>;
  for (const name of ['_write', '_feedDataStream', '_endDataMode', '_countDataBytes']) assert.equal(typeof stream[name], 'function', `SMTPStream.${name}`);
  const conn = SMTPConnection.prototype as unknown as Record<string, unknown>;
  for (const name of ['_onClose', '_onTimeout', '_armTimeout', '_setListeners', '_whenWritable', 'connectionReady', '_createParser', 'init']) {
    assert.equal(typeof conn[name], 'function', `SMTPConnection.${name}`);
  }
});

test('a 100 KB command line is cut at line_length_limit and answered; the session goes on', { timeout: 15_000 }, async () => {
  const rig = await startRig();
  try {
    const c = await RawClient.open(rig.port);
    await c.reply();
    // sent in pieces, as a network delivers it
    const junk = 'X'.repeat(100 * 1024);
    for (let i = 0; i < junk.length; i += 8192) c.socket.write(junk.slice(i, i + 8192));
    assert.equal(await c.cmd(''), '500 5.5.2 Error: command not recognized');
    assert.equal(await c.cmd(`NOOP ${'y'.repeat(50_000)}`), '250 2.0.0 Ok');
    assert.equal(await c.cmd('EHLO client.example').then((r) => r?.split('\n')[0]), '250-mx.example.com');
    assert.equal(await c.cmd('QUIT'), '221 2.0.0 Bye');
  } finally {
    await rig.stop();
  }
});

test('a client that sends a command one byte at a time is dropped within smtpd_timeout of its first byte', { timeout: 15_000 }, async () => {
  const rig = await startRig({ smtpd_timeout: '1s' });
  try {
    const c = await RawClient.open(rig.port);
    await c.reply();
    const started = Date.now();
    const drip = setInterval(() => {
      if (!c.closed) c.socket.write('N');
    }, 200);
    try {
      assert.equal(await c.reply(), '421 4.4.2 mx.example.com Error: timeout exceeded');
      await c.waitClose();
    } finally {
      clearInterval(drip);
    }
    const took = Date.now() - started;
    assert.ok(took < 2500, `dropped after ${took} ms`);
    await rig.log.waitFor(/^disconnect/);
    assert.ok(rig.log.lines.includes('timeout after CONNECT from unknown[127.0.0.1]'), rig.log.lines.join('\n'));
  } finally {
    await rig.stop();
  }
});

test('a TLS ClientHello on the plaintext port gets a reply and the session ends', { timeout: 15_000 }, async () => {
  const rig = await startRig();
  try {
    const c = await RawClient.open(rig.port);
    await c.reply();
    // a TLS 1.2 handshake record header and the start of a ClientHello, no line end
    c.socket.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]));
    assert.equal(await c.reply(), '421 4.7.0 mx.example.com Error: TLS handshake on a plaintext port');
    await c.waitClose();
    await rig.log.waitFor(/TLS handshake on a plaintext SMTP port/);
  } finally {
    await rig.stop();
  }
});

test('an AUTH response longer than smtpd_sasl_response_limit: 500 5.5.6 SASL response limit exceeded', { timeout: 15_000 }, async () => {
  const rig = await startRig(
    {
      smtpd_sasl_auth_enable: 'yes',
      smtpd_sasl_type: 'postern-table',
      postern_sasl_password_maps: 'inline:{ alice=wonderland }',
      smtpd_sasl_response_limit: '4096',
    },
    { tables: createTableRegistry() },
  );
  try {
    const c = await RawClient.open(rig.port);
    await c.reply();
    assert.match((await c.cmd('EHLO client.example'))!, /250-AUTH .*LOGIN/);
    assert.equal(await c.cmd('AUTH LOGIN'), '334 VXNlcm5hbWU6');
    assert.equal(await c.cmd('QUFB'.repeat(30_000)), '500 5.5.6 SASL response limit exceeded');
    // a response under the limit but over line_length_limit is read whole
    assert.equal(await c.cmd('AUTH LOGIN'), '334 VXNlcm5hbWU6');
    assert.equal(await c.cmd('QUFB'.repeat(900)), '334 UGFzc3dvcmQ6');
    assert.equal(await c.cmd('*'), '501 5.7.0 Authentication aborted');
    assert.equal(await c.cmd('QUIT'), '221 2.0.0 Bye');
  } finally {
    await rig.stop();
  }
});

test('a full queue file system: 452 4.3.1 Insufficient system storage at MAIL FROM, accepted again once space is freed', { timeout: 20_000 }, async (t) => {
  const disk = mkdtempSync(join(tmpdir(), 'postern-minfree-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=20m', 'tmpfs', disk], { stdio: 'ignore' });
  } catch {
    rmSync(disk, { recursive: true, force: true });
    t.skip('cannot mount a tmpfs here (needs root)');
    return;
  }
  // 20 MB free is over 1.5 x 10 MB; with 10 MB taken it is not
  const rig = await startRig({ queue_directory: disk, message_size_limit: '10240000' });
  try {
    const c = await RawClient.open(rig.port);
    await c.reply();
    await c.cmd('EHLO client.example');
    assert.equal(await c.cmd('MAIL FROM:<a@client.example>'), '250 2.1.0 Ok');
    assert.equal(await c.cmd('RSET'), '250 2.0.0 Ok');
    writeFileSync(join(disk, 'ballast'), Buffer.alloc(10 * 1024 * 1024));
    assert.equal(await c.cmd('MAIL FROM:<a@client.example>'), '452 4.3.1 Insufficient system storage');
    assert.ok(rig.log.lines.some((l) => /^warning: not enough free space in mail queue: \d+ bytes < 1\.5\*message size limit$/.test(l)), rig.log.lines.join('\n'));
    assert.ok(rig.log.lines.some((l) => l.startsWith('NOQUEUE: reject: MAIL from unknown[127.0.0.1]: 452 4.3.1 Insufficient system storage;')));
    rmSync(join(disk, 'ballast'));
    assert.equal(await c.cmd('MAIL FROM:<a@client.example>'), '250 2.1.0 Ok');
    await c.cmd('QUIT');
  } finally {
    await rig.stop();
    execFileSync('umount', [disk]);
    rmSync(disk, { recursive: true, force: true });
  }
});
