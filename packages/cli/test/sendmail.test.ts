/**
 * sendmail(1): the command line, input reading and -t counting as
 * functions, and the real command as a process with the mail system
 * stopped: the message must sit in maildrop with the envelope asked for.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { openQueueStore, QUEUE, type QueuedMessage } from '@postern/core';
import { headerRecipientCount, parseSendmailArgs, readMessage } from '../src/commands/sendmail.js';

const SENDMAIL = fileURLToPath(new URL('../src/bin/sendmail.js', import.meta.url));

describe('sendmail command line', () => {
  const cases: [string[], Partial<ReturnType<typeof parseSendmailArgs>>][] = [
    [['a@b'], { mode: 'deliver', recipients: ['a@b'] }],
    [['-oi', '-f', 'me@x', 'a@b'], { dotIgnore: true, sender: 'me@x' }],
    [['-ti', '-rme'], { extract: true, dotIgnore: true, sender: 'me' }],
    [['-F', 'Full Name', '-N', 'success,delay', '-R', 'hdrs', '-V', 'id-1'], { fullName: 'Full Name', notify: ['SUCCESS', 'DELAY'], ret: 'HDRS', envid: 'id-1' }],
    [['-bp'], { mode: 'queue' }],
    [['-bs'], { mode: 'smtp' }],
    [['-bv', 'a@b'], { mode: 'verify' }],
    [['-bi'], { mode: 'aliases' }],
    [['-I'], { mode: 'aliases' }],
    [['-q'], { mode: 'flush' }],
    [['-q30m'], { mode: 'flush' }],
    [['-qRexample.com'], { mode: 'flush', flushSite: 'example.com' }],
    [['-v', '-v'], { verbose: 2 }],
    [['-G', '-U', '-om', '-o7', '-B', '8BITMIME', '-h', '5', '-L', 'x', '-n', '-x', 'a@b'], { recipients: ['a@b'], dotIgnore: false }],
    [['-C', '/etc/x/main.cf', '--', '-odd'], { configDir: '/etc/x/main.cf', recipients: ['-odd'] }],
    [['-N', 'never,success'], { notify: undefined, warnings: ['bad -N option value -- ignored'] }],
    [['-R', 'most'], { ret: undefined, warnings: ['bad -R option value -- ignored'] }],
    [['-V', 'has space'], { envid: undefined, warnings: ['bad syntax in -V option value -- ignored'] }],
  ];
  for (const [argv, expect] of cases) {
    test(argv.join(' '), () => {
      const o = parseSendmailArgs(argv);
      for (const [k, v] of Object.entries(expect)) assert.deepEqual(o[k as keyof typeof o], v, k);
    });
  }
  test('bad options', () => {
    assert.throws(() => parseSendmailArgs(['-Z']), /invalid option -- 'Z'/);
    assert.throws(() => parseSendmailArgs(['-f']), /option requires an argument -- 'f'/);
    assert.throws(() => parseSendmailArgs(['-qZ']), /-qZ is not implemented/);
    assert.throws(() => parseSendmailArgs(['-bz']), /unsupported: -bz/);
  });
});

describe('sendmail input', () => {
  const read = (text: string, dotIgnore: boolean, limit = 0) => readMessage(Readable.from([Buffer.from(text)]), dotIgnore, limit);
  test('a lone dot ends input unless -i', async () => {
    assert.equal((await read('a\n.\nb\n', false)).content.toString(), 'a\n');
    assert.equal((await read('a\r\n.\r\nb\r\n', false)).content.toString(), 'a\r\n');
    assert.equal((await read('a\n..\n.x\n', false)).content.toString(), 'a\n..\n.x\n');
    assert.equal((await read('a\n.\nb\n', true)).content.toString(), 'a\n.\nb\n');
    assert.equal((await read('a\nno newline', false)).content.toString(), 'a\nno newline');
  });
  test('the size is counted past the limit', async () => {
    const r = await read('x'.repeat(50), true, 10);
    assert.equal(r.size, 50);
  });
  test('-t counts To:, Cc:, Bcc: addresses (or the Resent- ones)', () => {
    const count = (h: string) => headerRecipientCount(Buffer.from(`${h}\n\nTo: body@x\n`));
    assert.equal(count('Subject: x'), 0);
    assert.equal(count('To: a@b, "C D" <c@d>\nCc: e@f\nBcc:\n g@h'), 4);
    assert.equal(count('To: undisclosed-recipients:;'), 0);
    assert.equal(count('To: friends: a@b, c@d;'), 2);
    assert.equal(count('To: a@b\nResent-From: x@y'), 0);
    assert.equal(count('To: a@b\nResent-To: r@s'), 1);
  });
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(args: string[], input: string, env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [SENDMAIL, ...args], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.stdin.end(input);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('sendmail with the mail system stopped', () => {
  const dir = mkdtempSync(join(tmpdir(), 'postern-sendmail-'));
  const etc = join(dir, 'etc');
  const spool = join(dir, 'spool');
  const user = userInfo().username;
  const uid = process.getuid?.() ?? 0;

  before(() => {
    mkdirSync(etc);
    mkdirSync(spool);
    const main = [`queue_directory = ${spool}`, 'myhostname = mail.example.test', 'message_size_limit = 2000', 'mynetworks = 127.0.0.0/8', 'smtpd_peername_lookup = no', `maillog_file = ${join(dir, 'maillog')}`];
    writeFileSync(join(etc, 'main.cf'), `${main.join('\n')}\n`);
    writeFileSync(join(etc, 'master.cf'), '');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  async function maildrop(): Promise<{ message: QueuedMessage; content: string }[]> {
    const store = openQueueStore({ queueDirectory: spool });
    const out: { message: QueuedMessage; content: string }[] = [];
    try {
      for await (const message of store.scan(QUEUE.MAILDROP)) {
        let content = '';
        for await (const c of store.readContent(message.id)) content += c.toString();
        out.push({ message, content });
        await store.delete(message.id);
      }
    } finally {
      await store.close();
    }
    return out;
  }

  test('the message waits in maildrop with its envelope; pickup is missing, as Postfix says', async () => {
    const r = await run(['-C', etc, '-f', '<sender@example.test>', '-F', 'Sam Sender', '-N', 'success,failure', '-R', 'full', '-V', 'ENV-42', 'a@example.test, b@example.test', 'c'], 'Subject: hi\n\nline\n.\nafter the dot\n');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, 'postdrop: warning: unable to look up public/pickup: No such file or directory\n');
    const [m, more] = await maildrop();
    assert.equal(more, undefined);
    const e = m!.message as QueuedMessage & { submitter?: unknown; cleanupFlags?: unknown };
    assert.equal(e.queue, QUEUE.MAILDROP);
    assert.equal(e.sender, 'sender@example.test');
    assert.deepEqual(e.recipients.map((x) => x.address), ['a@example.test', 'b@example.test', 'c']);
    assert.deepEqual(e.recipients[0]!.notify, ['SUCCESS', 'FAILURE']);
    assert.equal(e.dsnRet, 'FULL');
    assert.equal(e.dsnEnvid, 'ENV-42');
    assert.deepEqual(e.submitter, { user, uid, fullName: 'Sam Sender' });
    assert.equal(e.cleanupFlags, undefined);
    assert.equal(m!.content, 'Subject: hi\n\nline\n');
  });

  test('-t with -i keeps dots and marks the message for extraction; the sender defaults to the login name', async () => {
    const r = await run(['-C', join(etc, 'main.cf'), '-t', '-i', 'extra@example.test'], 'To: a@example.test\nBcc: hidden@example.test\n\n.\nstill here\n');
    assert.equal(r.code, 0, r.stderr);
    const [m] = await maildrop();
    const e = m!.message as QueuedMessage & { cleanupFlags?: unknown };
    assert.equal(e.sender, user);
    assert.deepEqual(e.recipients.map((x) => x.address), ['extra@example.test']);
    assert.deepEqual(e.cleanupFlags, { extractRecipients: true });
    assert.equal(m!.content, 'To: a@example.test\nBcc: hidden@example.test\n\n.\nstill here\n');
  });

  test('-v asks for a delivery report, -bv for a verification report; MAIL_CONFIG chooses the instance', async () => {
    const r = await run(['-v', 'a@example.test'], 'Subject: v\n\n', { MAIL_CONFIG: etc });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `Mail Delivery Status Report will be mailed to <${user}>.\n`);
    const rv = await run(['-bv', 'b@example.test'], '', { MAIL_CONFIG: etc });
    assert.equal(rv.code, 0, rv.stderr);
    const [v1, v2] = await maildrop();
    assert.deepEqual(v1!.message.traceFlags, ['record']);
    assert.deepEqual(v2!.message.traceFlags, ['verify']);
  });

  const refusals: [string, string[], string, RegExp, number][] = [
    ['no recipients', ['-C', etc], 'x\n', /^sendmail: fatal: \S+\(\d+\): Recipient addresses must be specified on the command line or via the -t option$/m, 75],
    ['-t without recipient headers', ['-C', etc, '-t'], 'Subject: x\n\n', /^sendmail: fatal: \S+\(\d+\): No recipient addresses found in message header$/m, 75],
    ['an unknown option', ['-C', etc, '-Z'], '', /^sendmail: invalid option -- 'Z'\nsendmail: fatal: usage: sendmail \[options\]$/m, 75],
    ['a recipient with -bp', ['-C', etc, '-bp', 'x'], '', /^sendmail: fatal: display queue mode requires no recipient$/m, 75],
    ['a recipient with -bs', ['-C', etc, '-bs', 'x'], '', /^sendmail: fatal: stand-alone mode requires no recipient$/m, 75],
    ['-t with -bv', ['-C', etc, '-t', '-bv'], '', /^sendmail: fatal: \S+: -t option cannot be used with -bv$/m, 75],
    ['a message over message_size_limit', ['-C', etc, 'a@b'], 'x'.repeat(3000), /^sendmail: fatal: \S+\(\d+\): message file too big$/m, 65],
    ['a missing queue directory', ['-C', '/nonexistent/etc', 'a@b'], 'x', /^sendmail: fatal: open \/nonexistent\/etc\/main\.cf: No such file or directory$/m, 75],
  ];
  for (const [name, args, input, message, code] of refusals) {
    test(`refused: ${name}`, async () => {
      const r = await run(args, input);
      assert.equal(r.code, code, r.stderr);
      assert.match(r.stderr, message);
      assert.deepEqual(await maildrop(), []);
    });
  }

  test('-bs speaks SMTP on stdin/stdout and drops the message into maildrop', async () => {
    const dialogue = [
      'EHLO client.example.test',
      'MAIL FROM:<bs@example.test>',
      'RCPT TO:<rcpt@example.test>',
      'DATA',
      'Subject: bs',
      '',
      'via -bs',
      '.',
      'QUIT',
      '',
    ].join('\r\n');
    const r = await run(['-C', etc, '-bs'], dialogue);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^220 /);
    assert.match(r.stdout, /\r\n250 2\.0\.0 Ok: queued as \w+\r\n/);
    assert.match(r.stdout, /\r\n221 2\.0\.0 Bye\r\n$/);
    const [m] = await maildrop();
    assert.equal(m!.message.sender, 'bs@example.test');
    assert.deepEqual(m!.message.recipients.map((x) => x.address), ['rcpt@example.test']);
    assert.match(m!.content, /^Received: from client\.example\.test .*\n(.*\n)*Subject: bs\r?\n\r?\nvia -bs\r?\n$/);
  });
});
