/**
 * smtpd_forbidden_commands and smtpd_noop_commands (smtpd.c): a real smtpd
 * on loopback, a raw SMTP client, a real regexp: table on disk.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RawClient, startRig } from './helpers.js';

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'postern-commands-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

const GOODBYE = '221 2.7.0 Error: I can break rules, too. Goodbye.';

test('smtpd_forbidden_commands (the default, with its inline regexp:): CONNECT, GET, POST, a header line and a command not starting with a letter get 221 2.7.0 and the connection ends; the warning shows the line', async () => {
  const rig = await startRig();
  try {
    for (const line of ['GET / HTTP/1.0', 'post /x HTTP/1.1', 'CONNECT 10.0.0.1:25 HTTP/1.1', 'Subject: hello', 'X-Mailer:x', '\x01binary', '+OK not SMTP']) {
      const c = await RawClient.open(rig.port, '127.0.0.2');
      try {
        await c.reply();
        assert.equal(await c.cmd(line), GOODBYE, line);
        await c.waitClose();
      } finally {
        c.end();
      }
    }
    await rig.log.waitFor(/^warning: non-SMTP command from \S+\[127\.0\.0\.2\]: GET \/ HTTP\/1\.0$/);
    await rig.log.waitFor(/^warning: non-SMTP command from \S+: \+OK not SMTP$/);
    assert.equal(rig.log.lines.filter((l) => /the table is not used/.test(l)).length, 0, 'the default table opens');
    await rig.log.waitFor(/^warning: non-SMTP command from \S+: Subject: hello$/);
  } finally {
    await rig.stop();
  }
});

test('smtpd_forbidden_commands: a regexp: table entry; known commands and other unknown words are not affected', async () => {
  const map = join(dir, 'bogus');
  writeFileSync(map, '/^[^A-Z]/ Bogus\n');
  const rig = await startRig({ smtpd_forbidden_commands: `CONNECT regexp:${map}` });
  const c = await RawClient.open(rig.port, '127.0.0.2');
  try {
    await c.reply();
    assert.equal(await c.cmd('GET /'), '500 5.5.2 Error: command not recognized', 'GET is no longer listed');
    assert.equal(await c.cmd('NOOP'), '250 2.0.0 Ok');
    assert.equal(await c.cmd('1 garbage'), GOODBYE);
    await c.waitClose();
  } finally {
    c.end();
    await rig.stop();
  }
});

test('smtpd_forbidden_commands = (empty): a header line is still not SMTP; smtpd_noop_commands answer 250 without a syntax check', async () => {
  const map = join(dir, 'noop');
  writeFileSync(map, '/^xyzzy/ noop\n');
  const rig = await startRig({ smtpd_forbidden_commands: '', smtpd_noop_commands: `!XYZZY2, regexp:${map}` });
  const c = await RawClient.open(rig.port, '127.0.0.2');
  try {
    await c.reply();
    assert.equal(await c.cmd('GET /'), '500 5.5.2 Error: command not recognized');
    assert.equal(await c.cmd('xyzzy any <thing> at all'), '250 2.0.0 Ok');
    assert.equal(await c.cmd('XYZZY2'), '500 5.5.2 Error: command not recognized', 'not a noop: the exception');
    assert.equal(await c.cmd('From: someone'), GOODBYE);
    await c.waitClose();
  } finally {
    c.end();
    await rig.stop();
  }
});
