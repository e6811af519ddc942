/**
 * postscreen_reject_footer, postscreen_reject_footer_maps,
 * postscreen_expansion_filter and postscreen_command_filter: postscreen
 * in-process on loopback, raw SMTP clients from their own 127.0.x.y
 * addresses, real regexp:/pcre: tables on disk.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTableRegistry } from '@postern/tables';
import { unescape } from '@postern/core';
import { Client, greetAndClose, HANDED, startPostscreen, waitLog, type Rig } from './helpers.js';

test('unescape: \\t, \\40 (octal), \\\\ and \\x as Postfix unescape(3) reads postscreen_expansion_filter', () => {
  assert.equal(unescape('\\t\\40ab\\\\\\q\\101'), '\t ab\\qA');
  assert.equal(unescape('x\\'), 'x');
});

describe('postscreen_reject_footer and postscreen_reject_footer_maps on the dummy engine replies', () => {
  let dir: string;
  let rig: Rig;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'postern-postscreen-'));
    const map = join(dir, 'footer_maps');
    // keyed by the complete reply text; $$ is a literal $ in a regexp: result
    writeFileSync(map, '/^521 5\\.7\\.0 / Goodbye, $$client_address.\n');
    rig = await startPostscreen(
      dir,
      {
        mynetworks: '',
        postscreen_greet_banner: '',
        postscreen_pipelining_enable: 'yes',
        postscreen_non_smtp_command_enable: 'yes',
        // postscreen_reject_footer's default, $smtpd_reject_footer, taken unexpanded
        smtpd_reject_footer: '\\c (client $client_address port $client_port)\\nContact postmaster@$server_name',
        postscreen_reject_footer_maps: `regexp:${map}`,
      },
      greetAndClose,
      createTableRegistry(),
    );
  });
  after(async () => {
    await rig?.svc.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('the 450 at RCPT and a 502 get the footer, macros expanded; the 220, 250 and 221 replies do not', async () => {
    const c = await Client.open(rig.port, '127.0.5.1');
    const port = c.socket.localPort;
    assert.equal(await c.next(), '220 mail.example.test ESMTP Postern');
    c.send('HELO footer.example');
    assert.equal(await c.reply(), '250 mail.example.test');
    c.send('XYZZY');
    assert.equal(await c.reply(), `502-5.5.2 Error: command not recognized (client 127.0.5.1 port ${port})\n502 5.5.2 Contact postmaster@mail.example.test`);
    c.send('MAIL FROM:<a@footer.example>');
    assert.equal(await c.reply(), '250 2.1.0 Ok');
    c.send('RCPT TO:<b@mail.example.test>');
    assert.equal(await c.reply(), `450-4.3.2 Service currently unavailable (client 127.0.5.1 port ${port})\n450 4.3.2 Contact postmaster@mail.example.test`);
    c.send('QUIT');
    assert.equal(await c.reply(), '221 2.0.0 Bye');
    await c.closed;
    // the log has the reply without its footer
    assert.ok(rig.log.lines.some((l) => l.startsWith(`NOQUEUE: reject: RCPT from [127.0.5.1]:${port}: 450 4.3.2 Service currently unavailable;`)), rig.log.lines.join('\n'));
  });

  test('a footer_maps entry for the reply text wins over postscreen_reject_footer (the non-SMTP command drop)', async () => {
    const c = await Client.open(rig.port, '127.0.5.2');
    await c.next();
    c.send('GET / HTTP/1.0');
    assert.equal(await c.reply(), '521-5.7.0 Error: I can break rules, too. Goodbye.\n521 5.7.0 Goodbye, 127.0.5.2.');
    await c.closed;
    await waitLog(rig.log, /^NON-SMTP COMMAND from \[127\.0\.5\.2\]:\d+ after CONNECT: GET \/ HTTP\/1\.0$/);
  });

  test('pipelined commands: the reply that waits for its footer lookup still comes before the next one', async () => {
    const c = await Client.open(rig.port, '127.0.5.3');
    await c.next();
    c.socket.write('XYZZY\r\nNOOP\r\nQUIT\r\n');
    assert.match(await c.reply(), /^502-5\.5\.2 Error: command not recognized \(client 127\.0\.5\.3 port \d+\)\n502 5\.5\.2 Contact postmaster@mail\.example\.test$/);
    assert.equal(await c.reply(), '250 2.0.0 Ok');
    assert.equal(await c.reply(), '221 2.0.0 Bye');
    await c.closed;
    await waitLog(rig.log, /^COMMAND PIPELINING from \[127\.0\.5\.3\]:\d+ after XYZZY: NOOP\\r\\nQUIT\\r\\n$/);
  });
});

describe('postscreen_reject_footer before the greeting, through postscreen_expansion_filter', () => {
  let dir: string;
  let rig: Rig;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'postern-postscreen-'));
    rig = await startPostscreen(dir, {
      mynetworks: '',
      postscreen_greet_wait: '3s',
      postscreen_greet_action: 'drop',
      postscreen_reject_footer: 'From $client_address to $server_name at $localtime',
      // letters, digits and (octal \40) a space: the dots and colons become _
      postscreen_expansion_filter: 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789\\40',
    });
  });
  after(async () => {
    await rig?.svc.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('a pregreet drop: 521 5.5.1 Protocol error with the footer line, its macro values filtered', async () => {
    const c = await Client.open(rig.port, '127.0.5.4');
    assert.equal(await c.next(), '220-mail.example.test ESMTP Postern');
    c.send('EHLO early.example');
    const reply = await c.reply();
    assert.match(reply, /^521-5\.5\.1 Protocol error\n521 5\.5\.1 From 127_0_5_4 to mail_example_test at [A-Z][a-z]{2} \d\d \d\d_\d\d_\d\d$/);
    await c.closed;
    await waitLog(rig.log, /^PREGREET 20 after [\d.]+ from \[127\.0\.5\.4\]/);
  });
});

describe('postscreen_command_filter', () => {
  let dir: string;
  let rig: Rig;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'postern-postscreen-'));
    const map = join(dir, 'command_filter');
    writeFileSync(map, '/^GET\\s/ NOOP\n/^HELLO\\s+(\\S+)/ HELO $1\n');
    rig = await startPostscreen(
      dir,
      {
        mynetworks: '',
        postscreen_greet_banner: '',
        postscreen_non_smtp_command_enable: 'yes',
        postscreen_non_smtp_command_action: 'drop',
        postscreen_command_filter: `pcre:${map}`,
      },
      greetAndClose,
      createTableRegistry(),
    );
  });
  after(async () => {
    await rig?.svc.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('a bogus command mapped to NOOP passes the non-SMTP command test; a rewritten HELLO is a HELO; each replacement is logged', async () => {
    const c = await Client.open(rig.port, '127.0.6.1');
    const port = c.socket.localPort;
    assert.equal(await c.next(), '220 mail.example.test ESMTP Postern');
    // the table sees the line without its leading blanks; the log shows it as received
    c.send('  GET / HTTP/1.0');
    assert.equal(await c.reply(), '250 2.0.0 Ok');
    c.send('HELLO filter.example');
    assert.equal(await c.reply(), '250 mail.example.test');
    c.send('MAIL FROM:<a@filter.example>');
    assert.equal(await c.reply(), '250 2.1.0 Ok');
    c.send('RCPT TO:<b@mail.example.test>');
    assert.equal(await c.reply(), '450 4.3.2 Service currently unavailable');
    c.send('QUIT');
    assert.equal(await c.reply(), '221 2.0.0 Bye');
    await c.closed;
    assert.ok(rig.log.lines.includes(`[127.0.6.1]:${port}: replacing command "  GET / HTTP/1.0" with "NOOP"`), rig.log.lines.join('\n'));
    assert.ok(rig.log.lines.includes(`[127.0.6.1]:${port}: replacing command "HELLO filter.example" with "HELO filter.example"`));
    assert.ok(!rig.log.lines.some((l) => l.startsWith('NON-SMTP COMMAND from [127.0.6.1]')));
    assert.match(await waitLog(rig.log, /^PASS NEW \[127\.0\.6\.1\]/), /^PASS NEW \[127\.0\.6\.1\]:\d+$/);
    const again = await Client.open(rig.port, '127.0.6.1');
    assert.equal(await again.next(), HANDED);
  });

  test('a line the table does not know is parsed as sent: CONNECT stays a non-SMTP command (drop)', async () => {
    const c = await Client.open(rig.port, '127.0.6.2');
    await c.next();
    c.send('CONNECT relay.example:443 HTTP/1.1');
    assert.equal(await c.reply(), '521 5.7.0 Error: I can break rules, too. Goodbye.');
    await c.closed;
    await waitLog(rig.log, /^NON-SMTP COMMAND from \[127\.0\.6\.2\]:\d+ after CONNECT: CONNECT relay\.example:443 HTTP\/1\.1$/);
    assert.ok(!rig.log.lines.some((l) => l.startsWith('[127.0.6.2]') && l.includes('replacing command')));
  });

  test("postscreen_forbidden_commands follows smtpd's default: a command that does not start with a letter (its inline regexp:) is non-SMTP too", async () => {
    const c = await Client.open(rig.port, '127.0.6.3');
    await c.next();
    c.send('1234 hello');
    assert.equal(await c.reply(), '521 5.7.0 Error: I can break rules, too. Goodbye.');
    await c.closed;
    await waitLog(rig.log, /^NON-SMTP COMMAND from \[127\.0\.6\.3\]:\d+ after CONNECT: 1234 hello$/);
    assert.ok(!rig.log.lines.some((l) => l.includes('the table is not used')));
  });
});
