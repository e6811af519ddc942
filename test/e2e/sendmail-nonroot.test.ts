/**
 * Local submission by an ordinary user (cron jobs, scripts, web
 * applications): the queue store is mail_owner's, so sendmail run as another
 * user drops the message into the maildrop directory that `postern
 * set-permissions` makes (1733, group setgid_group), and pickup moves it into
 * the queue with the file owner's uid. Runs as root only: it creates (once)
 * and uses a real unprivileged account.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Instance } from '../lib/instance.js';

const require = createRequire(import.meta.url);
const SENDMAIL = join(dirname(require.resolve('@postern/cli/package.json')), 'bin', 'sendmail.js');
const USER = 'posterntest';
const USERADD = ['/usr/sbin/useradd', '/sbin/useradd'].find((p) => existsSync(p));

function account(): { uid: number; gid: number } | undefined {
  try {
    return { uid: Number(execFileSync('id', ['-u', USER]).toString()), gid: Number(execFileSync('id', ['-g', USER]).toString()) };
  } catch {
    return undefined;
  }
}

const skip = process.getuid?.() !== 0 ? 'needs root (to run sendmail as another, unprivileged user)' : !USERADD ? 'useradd not installed' : false;

test('sendmail as an ordinary user: maildrop file, then pickup', { skip, timeout: 60_000 }, async () => {
  if (!account()) execFileSync(USERADD!, ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', USER]);
  const who = account()!;
  const inst = new Instance({
    main: { mail_owner: 'postfix', default_transport: 'discard', myorigin: '$myhostname' },
    master: ['pickup unix n - n 2 1 pickup', 'cleanup unix n - n - 0 cleanup', 'rewrite unix - - n - - trivial-rewrite', ''].join('\n'),
  });
  try {
    const perms = await inst.postern(['set-permissions']);
    assert.equal(perms.code, 0, perms.stderr);
    const maildrop = join(inst.queueDir, 'maildrop');
    const st = statSync(maildrop);
    assert.equal(st.mode & 0o7777, 0o1733);
    assert.equal(st.uid, Number(execFileSync('id', ['-u', 'postfix']).toString()));

    const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [SENDMAIL, '-f', `${USER}@example.test`, 'someone@example.test'], {
        uid: who.uid,
        gid: who.gid,
        env: { PATH: process.env['PATH'], HOME: '/', MAIL_CONFIG: inst.configDir },
        stdio: ['pipe', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (d) => (stderr += d));
      child.stdin.end('Subject: from a cron job\n\nhello\n');
      child.on('close', (code) => resolve({ code, stderr }));
    });
    assert.equal(r.code, 0, r.stderr);
    const files = readdirSync(maildrop);
    assert.equal(files.length, 1);
    assert.equal(statSync(join(maildrop, files[0]!)).uid, who.uid);

    await inst.start();
    await inst.waitForLog(new RegExp(`pickup\\[\\d+\\]: [0-9A-Za-z]+: uid=${who.uid} from=<${USER}@example\\.test>`));
    assert.deepEqual(readdirSync(maildrop), []);
  } finally {
    await inst.dispose();
  }
});

test('sendmail -bs as an ordinary user: the in-process smtpd drops into maildrop, then pickup', { skip, timeout: 60_000 }, async () => {
  if (!account()) execFileSync(USERADD!, ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', USER]);
  const who = account()!;
  const inst = new Instance({
    main: { mail_owner: 'postfix', default_transport: 'discard', myorigin: '$myhostname' },
    master: ['pickup unix n - n 2 1 pickup', 'cleanup unix n - n - 0 cleanup', 'rewrite unix - - n - - trivial-rewrite', ''].join('\n'),
  });
  try {
    const perms = await inst.postern(['set-permissions']);
    assert.equal(perms.code, 0, perms.stderr);
    const maildrop = join(inst.queueDir, 'maildrop');
    const session = ['EHLO client.example.test', `MAIL FROM:<${USER}@example.test>`, 'RCPT TO:<someone@example.test>', 'DATA', 'Subject: from sendmail -bs', '', 'hello', '.', 'QUIT', ''].join('\r\n');
    const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [SENDMAIL, '-bs'], {
        uid: who.uid,
        gid: who.gid,
        env: { PATH: process.env['PATH'], HOME: '/', MAIL_CONFIG: inst.configDir },
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      child.stdin.end(session);
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /^220 /);
    const queued = r.stdout.match(/^250 2\.0\.0 Ok: queued as (\S+)\r?$/m);
    assert.ok(queued, r.stdout);
    assert.match(r.stdout, /^221 /m);
    const files = readdirSync(maildrop);
    assert.deepEqual(files, [queued[1]]);
    assert.equal(statSync(join(maildrop, files[0]!)).uid, who.uid);

    await inst.start();
    await inst.waitForLog(new RegExp(`pickup\\[\\d+\\]: [0-9A-Za-z]+: uid=${who.uid} from=<${USER}@example\\.test>`));
    assert.deepEqual(readdirSync(maildrop), []);
  } finally {
    await inst.dispose();
  }
});
