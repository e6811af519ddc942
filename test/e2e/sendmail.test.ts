/**
 * sendmail(1) and pickup(8) end to end: the real sendmail command writes
 * maildrop while the mail system is stopped; the real `postern start-fg`
 * then picks the message up, cleanup queues it, qmgr delivers it (discard).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { userInfo } from 'node:os';
import { openQueueStore, QUEUE } from '@postern/core';
import { Instance } from '../lib/instance.js';

const require = createRequire(import.meta.url);
const SENDMAIL = join(dirname(require.resolve('@postern/cli/package.json')), 'dist', 'src', 'bin', 'sendmail.js');

function sendmail(configDir: string, args: string[], input: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [SENDMAIL, '-C', configDir, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.stdin.end(input);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const MASTER = [
  // a short wakeup: mail dropped while the system was down is found soon after start
  'pickup    unix  n       -       n       2       1       pickup',
  'cleanup   unix  n       -       n       -       0       cleanup',
  'qmgr      unix  n       -       n       300     1       qmgr',
  'rewrite   unix  -       -       n       -       -       trivial-rewrite',
  'bounce    unix  -       -       n       -       0       bounce',
  'defer     unix  -       -       n       -       0       bounce',
  'trace     unix  -       -       n       -       0       bounce',
  'discard   unix  -       -       n       -       -       discard',
  '',
].join('\n');

describe('sendmail and pickup', () => {
  let inst: Instance;
  const user = userInfo().username;

  before(() => {
    inst = new Instance({ main: { default_transport: 'discard', local_transport: 'discard', myorigin: '$myhostname' }, master: MASTER });
    mkdirSync(inst.queueDir, { recursive: true });
  });
  after(async () => {
    await inst.dispose();
  });

  test('stopped: the message waits in maildrop', async () => {
    const r = await sendmail(inst.configDir, ['-t', '-F', 'Test User', '-N', 'never', '-V', 'ENVID-1', 'cli@example.test'], 'To: to@example.test\nBcc: secret@example.test\nSubject: e2e\n\nbody\n.\nignored\n');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /postdrop: warning: unable to look up public\/pickup: No such file or directory/);
    const store = openQueueStore({ queueDirectory: inst.queueDir });
    try {
      assert.equal(await store.count(QUEUE.MAILDROP), 1);
    } finally {
      await store.close();
    }
  });

  test('started: pickup hands it to cleanup, Bcc: is gone, the envelope and DSN fields survive, qmgr delivers', async () => {
    await inst.start();
    const [, id] = (await inst.waitForLog(new RegExp(`postfix/pickup\\[\\d+\\]: (\\w+): uid=${process.getuid?.() ?? 0} from=<${user}>`)))!;
    const line = await inst.waitForLog(new RegExp(`${id}: from=<${user}@mail\\.example\\.test>, size=\\d+, nrcpt=3`));
    assert.ok(line);
    for (const rcpt of ['cli@example.test', 'to@example.test', 'secret@example.test']) {
      await inst.waitForLog(new RegExp(`${id}: to=<${rcpt}>.*status=sent`));
    }
    await inst.waitForLog(new RegExp(`${id}: removed`));
    const store = openQueueStore({ queueDirectory: inst.queueDir });
    try {
      assert.equal(await store.count(QUEUE.MAILDROP), 0);
    } finally {
      await store.close();
    }
  });

  test('running: a message is picked up at once, with -N/-R/-V in the queued envelope', async () => {
    await inst.stop();
    // hold everything so the queued envelope can be read
    inst.writeMain({ default_transport: 'discard', local_transport: 'discard', myorigin: '$myhostname', header_checks: `regexp:${join(inst.configDir, 'hold')}` });
    const { writeFileSync } = await import('node:fs');
    writeFileSync(join(inst.configDir, 'hold'), '/^Subject: hold me/ HOLD\n');
    await inst.start();
    const r = await sendmail(inst.configDir, ['-f', 'owner@example.test', '-N', 'success,delay', '-R', 'hdrs', '-V', 'ENV-7', 'rcpt@example.test'], 'Subject: hold me\n\nx\n');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    const [, id] = (await inst.waitForLog(/postfix\/pickup\[\d+\]: (\w+): uid=\d+ from=<owner@example\.test>/))!;
    await inst.waitForLog(new RegExp(`${id}: .*hold`));
    const store = openQueueStore({ queueDirectory: inst.queueDir });
    try {
      // cleanup logs the HOLD action as it reads the header, before its commit is done
      let m = await store.get(id!);
      for (let i = 0; i < 100 && m?.queue !== QUEUE.HOLD; i++) {
        await new Promise((r) => setTimeout(r, 50));
        m = await store.get(id!);
      }
      assert.equal(m?.queue, QUEUE.HOLD);
      assert.equal(m?.sender, 'owner@example.test');
      assert.equal(m?.dsnRet, 'HDRS');
      assert.equal(m?.dsnEnvid, 'ENV-7');
      assert.deepEqual(m?.recipients.map((x) => [x.address, x.notify]), [['rcpt@example.test', ['SUCCESS', 'DELAY']]]);
      assert.equal(m?.origin, 'pickup');
      let content = '';
      for await (const c of store.readContent(id!)) content += c.toString();
      assert.match(content, /^Received: by mail\.example\.test \(Postern, from userid \d+\)\n\tid \w+; /);
    } finally {
      await store.close();
    }
  });
});
