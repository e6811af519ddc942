/**
 * master_wakeup_init(): every wakeup service is woken once when master
 * starts, so mail that sendmail left in maildrop while the system was down
 * is picked up at once, not after pickup's 60 s wakeup timer.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Instance } from '../lib/instance.js';

const require = createRequire(import.meta.url);
const SENDMAIL = join(dirname(require.resolve('@postern/cli/package.json')), 'dist', 'src', 'bin', 'sendmail.js');

const MASTER = [
  // Postfix's master.cf.dist wakeup times: pickup 60 s, qmgr 300 s
  'pickup    unix  n       -       n       60      1       pickup',
  'cleanup   unix  n       -       n       -       0       cleanup',
  'qmgr      unix  n       -       n       300     1       qmgr',
  'rewrite   unix  -       -       n       -       -       trivial-rewrite',
  'bounce    unix  -       -       n       -       0       bounce',
  'defer     unix  -       -       n       -       0       bounce',
  'trace     unix  -       -       n       -       0       bounce',
  'discard   unix  -       -       n       -       -       discard',
  '',
].join('\n');

let inst: Instance;
before(() => {
  inst = new Instance({ main: { default_transport: 'discard', local_transport: 'discard', myorigin: '$myhostname' }, master: MASTER });
  mkdirSync(inst.queueDir, { recursive: true });
});
after(async () => {
  await inst.dispose();
});

test('mail dropped while the system was down is picked up as soon as master starts', async () => {
  const code = await new Promise<number | null>((resolve) => {
    const child = spawn(process.execPath, [SENDMAIL, '-C', inst.configDir, '-t'], { stdio: ['pipe', 'ignore', 'ignore'] });
    child.stdin.end('To: someone@example.test\nSubject: waiting in maildrop\n\nbody\n');
    child.on('close', resolve);
  });
  assert.equal(code, 0);
  const started = Date.now();
  await inst.start();
  const [, id] = (await inst.waitForLog(/postfix\/pickup\[\d+\]: (\w+): uid=\d+ from=</, 10_000))!;
  await inst.waitForLog(new RegExp(`${id}: to=<someone@example\\.test>, relay=none, .*status=sent`), 10_000);
  assert.ok(Date.now() - started < 20_000);
});
