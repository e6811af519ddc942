/**
 * smtpd_reject_footer / smtpd_reject_footer_maps (smtp_reply_footer(3)),
 * smtpd_expansion_filter and smtpd_command_filter: a real smtpd on loopback, a raw SMTP client, real
 * regexp:/pcre: tables on disk.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { appendReplyFooter } from '@postern/core';
import { RawClient, startRig } from './helpers.js';

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'postern-footer-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('appendReplyFooter: \\n lines repeat the code and enhanced status, \\c continues the last line, other replies keep their code', () => {
  assert.equal(appendReplyFooter('550 5.1.1 No', 'a\\nb $x', { x: 'X' }), '550-5.1.1 No\r\n550-5.1.1 a\r\n550 5.1.1 b X');
  assert.equal(appendReplyFooter('450 Busy', '\\c; see $u', { u: 'http://h/' }), '450 Busy; see http://h/');
  assert.equal(appendReplyFooter('550-5.7.1 one\r\n550 5.7.1 two', 'foot', {}), '550-5.7.1 one\r\n550-5.7.1 two\r\n550 5.7.1 foot');
  assert.equal(appendReplyFooter('not a reply', 'foot', {}), 'not a reply');
});

test('smtpd_reject_footer: a rejected RCPT gets the footer lines with the macros expanded; 2xx replies do not', async () => {
  const rig = await startRig({
    smtpd_reject_footer: '\\c (client $client_address port $client_port)\\nContact postmaster@$server_name; helo=$helo_name to=$recipient_domain',
  });
  let c: RawClient | undefined;
  try {
    c = await RawClient.open(rig.port, '127.0.0.2');
    assert.match((await c!.reply())!, /^220 mx\.example\.com /);
    assert.match((await c!.cmd('HELO client.example'))!, /^250 mx\.example\.com$/);
    assert.equal(await c!.cmd('MAIL FROM:<a@client.example>'), '250 2.1.0 Ok');
    const port = c!.socket.localPort;
    assert.equal(
      await c!.cmd('RCPT TO:<x@elsewhere.example>'),
      `454-4.7.1 <x@elsewhere.example>: Relay access denied (client 127.0.0.2 port ${port})\n` +
        '454 4.7.1 Contact postmaster@mx.example.com; helo=client.example to=elsewhere.example',
    );
    assert.equal(await c!.cmd('QUIT'), '221 2.0.0 Bye');
    await c!.waitClose();
  } finally {
    c?.end();
    await rig.stop();
  }
});

test('smtpd_reject_footer_maps: the table result for the reply text wins over smtpd_reject_footer', async () => {
  const map = join(dir, 'footer_maps');
  writeFileSync(map, '/Relay access denied/ See https://help.example/relay for $$client_name\n');
  const rig = await startRig({ smtpd_reject_footer: 'generic', smtpd_reject_footer_maps: `regexp:${map}` });
  let c: RawClient | undefined;
  try {
    c = await RawClient.open(rig.port, '127.0.0.2');
    await c!.reply();
    await c!.cmd('HELO client.example');
    await c!.cmd('MAIL FROM:<a@client.example>');
    assert.equal(
      await c!.cmd('RCPT TO:<x@elsewhere.example>'),
      '454-4.7.1 <x@elsewhere.example>: Relay access denied\n454 4.7.1 See https://help.example/relay for unknown',
    );
    assert.equal(await c!.cmd('VRFY'), '501-5.5.4 Syntax: VRFY address [SMTPUTF8]\n501 5.5.4 generic');
    assert.equal(await c!.cmd('QUIT'), '221 2.0.0 Bye');
    await c!.waitClose();
  } finally {
    c?.end();
    await rig.stop();
  }
});

test('smtpd_expansion_filter: a macro value keeps only the allowed characters (unescaped), others become _', async () => {
  for (const [filter, helo] of [
    ['abcdefghijklmnopqrstuvwxyz.', 'cli_nt.example'],
    [undefined, 'cli3nt.example'], // Postfix's default: tab and printable ASCII
  ] as const) {
    const rig = await startRig({ smtpd_reject_footer: 'helo=$helo_name', ...(filter && { smtpd_expansion_filter: `\\40${filter}` }) });
    let c: RawClient | undefined;
    try {
      c = await RawClient.open(rig.port, '127.0.0.2');
      await c!.reply();
      await c!.cmd('HELO cli3nt.example');
      await c!.cmd('MAIL FROM:<a@client.example>');
      assert.equal(await c!.cmd('RCPT TO:<x@elsewhere.example>'), `454-4.7.1 <x@elsewhere.example>: Relay access denied\n454 4.7.1 helo=${helo}`);
      await c!.cmd('QUIT');
    } finally {
      c?.end();
      await rig.stop();
    }
  }
});

test('smtpd_command_filter: a pcre: result replaces the command line before smtpd parses it, and is logged', async () => {
  const map = join(dir, 'command_filter');
  writeFileSync(map, '/^(RCPT\\s+TO:\\s*<.*>).*/ $1\n');
  const rig = await startRig({ smtpd_command_filter: `pcre:${map}` });
  let c: RawClient | undefined;
  try {
    c = await RawClient.open(rig.port);
    await c!.reply();
    await c!.cmd('EHLO client.example');
    assert.equal(await c!.cmd('MAIL FROM:<a@client.example>'), '250 2.1.0 Ok');
    assert.equal(await c!.cmd('RCPT TO:<b@example.com> XYZZY=1'), '250 2.1.5 Ok');
    assert.equal(await c!.cmd('QUIT'), '221 2.0.0 Bye');
    await c!.waitClose();
    assert.ok(
      rig.log.lines.includes('unknown[127.0.0.1]: replacing command "RCPT TO:<b@example.com> XYZZY=1" with "RCPT TO:<b@example.com>"'),
      rig.log.lines.join('\n'),
    );
  } finally {
    c?.end();
    await rig.stop();
  }
});
