// postern multi -e, -x and -p: postmulti(1)'s life-cycle management and iterator mode, run as the built command in a temp directory.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openQueueStore } from '@postern/queue-lmdb';

const SHIM = fileURLToPath(new URL('../../bin/postern.js', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'postern-multi-e-'));
const conf = join(root, 'etc', 'postfix');
const [a, b] = [join(root, 'etc', 'postfix-a'), join(root, 'etc', 'postfix-b')];
mkdirSync(conf, { recursive: true });
for (const d of ['spool/postfix', 'lib/postfix']) mkdirSync(join(root, d), { recursive: true });
// One unix service: master starts in a moment; an inet one shows that a new instance gets it commented out.
writeFileSync(join(conf, 'master.cf'), '127.0.0.1:2599 inet n - n - - smtpd\nanvil     unix  -       -       n       -       1       anvil\n');
writeFileSync(
  join(conf, 'main.cf'),
  `queue_directory = ${root}/spool/postfix\ndata_directory = ${root}/lib/postfix\nmaillog_file = ${root}/maillog\nmail_owner = ${userInfo().username}\nsyslog_name = primary\n`,
);
const multi = (...args: string[]) => spawnSync(process.execPath, [SHIM, 'multi', '-c', conf, ...args], { encoding: 'utf8' });
const mainCf = (dir: string) => readFileSync(join(dir, 'main.cf'), 'utf8');
after(() => {
  multi('-p', 'stop');
  rmSync(root, { recursive: true, force: true });
});

test('-e create needs -e init first; init sets multi_instance_wrapper and multi_instance_enable', () => {
  const r = multi('-e', 'create', '-I', 'postfix-a');
  assert.equal(r.stderr, "postern/postmulti-script: fatal: multi_instance_wrapper is empty, run 'postmulti -e init' first.\n");
  assert.equal(existsSync(a), false);
  assert.equal(multi('-e', 'init').status, 0);
  assert.match(mainCf(conf), /^multi_instance_wrapper = postern multi -p --$/m);
  assert.match(mainCf(conf), /^multi_instance_enable = yes$/m);
});

test('-e create: two instances with their own directories, disabled, in multi_instance_directories; -l lists them', () => {
  assert.equal(multi('-e', 'create', '-I', 'postfix-a', '-G', 'mta').status, 0);
  assert.equal(multi('-e', 'create', '-I', 'postfix-b').status, 0);
  assert.equal(multi('-e', 'create', '-I', 'bad').stderr, "postmulti: fatal: New instance name must start with 'postfix-'\n");
  assert.match(multi('-e', 'create', '-I', 'postfix-a').stderr, /^postmulti: fatal: new config_directory=.*postfix-a is already in use by instance/);
  assert.match(mainCf(conf), new RegExp(`^multi_instance_directories = ${a} ${b}$`, 'm'));
  const text = mainCf(a);
  assert.match(text, new RegExp(`^queue_directory = ${root}/spool/postfix-a$`, 'm'));
  assert.match(text, new RegExp(`^data_directory = ${root}/lib/postfix-a$`, 'm'));
  assert.match(text, /^multi_instance_name = postfix-a$/m);
  assert.match(text, /^multi_instance_group = mta$/m);
  assert.doesNotMatch(text, /multi_instance_(enable|wrapper|directories)|syslog_name/);
  assert.match(readFileSync(join(a, 'master.cf'), 'utf8'), /^#127\.0\.0\.1:2599 inet/m);
  for (const d of ['spool/postfix-a', 'lib/postfix-b']) assert.ok(existsSync(join(root, d)), d);
  const l = multi('-l');
  assert.equal(l.stdout, `-               -               y         ${conf}\npostfix-a       mta             n         ${a}\npostfix-b       -               n         ${b}\n`);
});

test('-x runs a command with MAIL_CONFIG and the settings of each instance; -R reverses, -g selects', () => {
  const r = multi('-x', 'sh', '-c', 'echo "$MAIL_CONFIG $queue_directory $multi_instance_name $multi_instance_enable"');
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, `${conf} ${root}/spool/postfix  yes\n${a} ${root}/spool/postfix-a postfix-a no\n${b} ${root}/spool/postfix-b postfix-b no\n`);
  assert.equal(multi('-R', '-x', 'printenv', 'MAIL_CONFIG').stdout, `${b}\n${a}\n${conf}\n`);
  assert.equal(multi('-g', 'mta', '-x', 'printenv', 'MAIL_CONFIG').stdout, `${a}\n`);
  assert.equal(multi('-g', 'none', '-x', 'true').stderr, 'postmulti: fatal: No matching instances\n');
  assert.equal(multi('-x', 'false').status, 1);
  assert.equal(multi('-p', '-R', 'status').stderr, "postmulti: fatal: The '-p' and '-e' options preclude the use of '-R'\n");
});

test('-e enable, then -p start/status/stop: start and stop on the enabled instances, check on the disabled one, status on all', () => {
  assert.equal(multi('-e', 'enable', '-i', 'a').status, 0);
  assert.match(mainCf(a), /^multi_instance_enable = yes$/m);
  const start = multi('-p', 'start');
  assert.equal(start.status, 0, start.stderr);
  assert.equal(start.stderr, 'postern/postfix-script: starting the Postern mail system\n'.repeat(2));
  const status = multi('-p', 'status');
  assert.equal(status.status, 1, 'postfix-b is not running');
  const lines = status.stderr.trim().split('\n');
  assert.equal(lines.length, 3);
  assert.match(lines[0]!, /is running: PID: \d+$/);
  assert.match(lines[1]!, /is running: PID: \d+$/);
  assert.equal(lines[2], 'postern/postfix-script: the Postern mail system is not running');
  const stop = multi('-p', 'stop');
  assert.equal(stop.status, 0, stop.stderr);
  assert.equal(stop.stderr.match(/stopping the Postern mail system/g)?.length, 2);
  // reverse order: the secondary's master logged its end before the primary's
  const log = readFileSync(join(root, 'maillog'), 'utf8');
  const ended = (tag: string) => log.search(new RegExp(`${tag}/master\\[\\d+\\]: terminating`));
  assert.ok(ended('postfix-a') >= 0 && ended('postfix-a') < ended('primary'), log);
  assert.equal(multi('-p', 'status').stderr, 'postern/postfix-script: the Postern mail system is not running\n'.repeat(3));
});

test('postern status/start/stop without -c go through multi_instance_wrapper to every instance; -c or MAIL_CONFIG is one instance; start-fg refuses', () => {
  // the default instance: $POSTERN_HOME/etc, here the primary
  const home = join(root, 'home');
  mkdirSync(home, { recursive: true });
  symlinkSync(conf, join(home, 'etc'));
  const env = { ...process.env, POSTERN_HOME: home, MAIL_CONFIG: '' };
  const postern = (...args: string[]) => spawnSync(process.execPath, [SHIM, ...args], { encoding: 'utf8', env });
  const notRunning = 'postern/postfix-script: the Postern mail system is not running\n';
  assert.equal(postern('status').stderr, notRunning.repeat(3));
  assert.equal(postern('status', '-c', conf).stderr, notRunning);
  assert.equal(spawnSync(process.execPath, [SHIM, 'status'], { encoding: 'utf8', env: { ...env, MAIL_CONFIG: a } }).stderr, notRunning);
  const start = postern('start');
  assert.equal(start.status, 0, start.stderr);
  assert.equal(start.stderr.match(/starting the Postern mail system/g)?.length, 2, 'the primary and postfix-a; postfix-b is disabled');
  // through the wrapper to each instance, as postfix start-fg does: each refuses
  assert.equal(postern('start-fg').stderr, 'postern/postfix-script: fatal: start-fg does not support multi_instance_directories\n'.repeat(3));
  const stop = postern('stop');
  assert.equal(stop.status, 0, stop.stderr);
  assert.equal(stop.stderr.match(/stopping the Postern mail system/g)?.length, 2);
  const text = mainCf(conf);
  try {
    writeFileSync(join(conf, 'main.cf'), text.replace(/^multi_instance_wrapper = .*$/m, 'multi_instance_wrapper ='));
    const r = postern('status');
    assert.equal(r.status, 1);
    assert.equal(r.stderr, 'postern: fatal: multi-instance support is requested, but multi_instance_wrapper is empty\n');
  } finally {
    writeFileSync(join(conf, 'main.cf'), text);
  }
});

test('-e destroy refuses an enabled instance and a queue with mail; removes a disabled one; -e assign renames', async () => {
  assert.equal(multi('-e', 'destroy', '-i', 'a').stderr, 'postmulti: fatal: Cannot remove enabled instances\n');
  assert.equal(multi('-e', 'destroy', '-i', '-').stderr, 'postmulti: fatal: Cannot remove the primary instance\n');
  assert.equal(multi('-e', 'disable', '-i', 'postfix-a').status, 0);
  assert.match(mainCf(a), /^multi_instance_enable = no$/m);

  const store = openQueueStore({ queueDirectory: join(root, 'spool', 'postfix-b') });
  const w = store.createWriter();
  w.write(Buffer.from('Subject: x\n\nx\n'));
  const m = await w.commit({ sender: 'a@example.com', recipients: [{ address: 'b@example.com' }], arrivalTime: Date.now() }, 'incoming');
  assert.equal(multi('-e', 'destroy', '-i', 'b').stderr, `postern/postmulti-script: fatal: Instance '${b}' queue is not empty: 1 message\n`);
  await store.delete(m.id);
  await store.close();

  const r = multi('-e', 'destroy', '-i', a);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, '');
  assert.match(mainCf(conf), new RegExp(`^multi_instance_directories = ${b}$`, 'm'));
  for (const d of [a, join(root, 'spool/postfix-a'), join(root, 'lib/postfix-a')]) assert.equal(existsSync(d), false, d);

  assert.equal(multi('-e', 'assign', '-i', 'b', '-I', 'postfix-c', '-G', 'edge').status, 0);
  assert.equal(multi('-l', '-i', 'c').stdout, `postfix-c       edge            n         ${b}\n`);
  assert.equal(multi('-e', 'deport', '-i', 'c').status, 0);
  assert.match(mainCf(conf), /^multi_instance_directories = $/m);
  assert.match(mainCf(conf), new RegExp(`^alternate_config_directories = ${b}$`, 'm'));
  assert.equal(multi('-e', 'import', `config_directory=${b}`).status, 0);
  assert.equal(multi('-l', '-g', 'edge').stdout, `postfix-c       edge            n         ${b}\n`);
});
