// postern upgrade-configuration: post-install's master.cf additions and corrections,
// compared with the real `postfix upgrade-configuration` on a copy of the same files.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SHIM = fileURLToPath(new URL('../../bin/postern.js', import.meta.url));
const OLD = [
  'smtp      inet  n       -       y       -       -       smtpd',
  'pickup    fifo  n       n       y       60      1       pickup',
  'cleanup   unix  -       -       y       -       0       cleanup',
  'qmgr      unix  n       -       n       300     1       qmgr',
  'tlsmgr    fifo  -       -       y       300     1       tlsmgr',
  'proxywrite unix -       -       n       -       -       proxymap',
  'verify    unix  -       -       n       -       0       verify',
  '',
].join('\n');

const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
function configDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'postern-upgrade-'));
  dirs.push(dir);
  writeFileSync(join(dir, 'master.cf'), OLD);
  writeFileSync(join(dir, 'main.cf'), 'compatibility_level = 3.6\ninet_protocols = ipv4\n');
  return dir;
}
const upgrade = (dir: string) => spawnSync(process.execPath, [SHIM, 'upgrade-configuration', '-c', dir], { encoding: 'utf8' });

test('adds the missing entries and corrects old ones, with post-install messages; a second run does nothing', () => {
  const dir = configDir();
  const r = upgrade(dir);
  assert.equal(r.status, 0, r.stderr);
  const said = r.stdout.split('\n').filter(Boolean).map((l) => l.replace(`Editing ${dir}/master.cf, `, ''));
  assert.deepEqual(said.slice(0, 7), [
    'adding missing entry for relay service',
    'adding missing entry for flush service',
    'adding missing entry for trace service',
    'setting verify process limit to 1',
    'making the pickup service unprivileged',
    'making the cleanup service public',
    'making the flush service public',
  ]);
  assert.ok(said.includes('updating the tlsmgr from fifo to unix service'));
  assert.ok(said.includes('adding missing entry for postlog unix-domain datagram service'));
  const text = readFileSync(join(dir, 'master.cf'), 'utf8');
  assert.match(text, /^tlsmgr    unix  -       -       y       300\?     1       tlsmgr$/m);
  assert.match(text, /^#smtp      inet  n       -       n       -       1       postscreen$/m);
  assert.match(text, /^proxywrite unix -       -       n       -       1       proxymap$/m);
  const again = upgrade(dir);
  assert.deepEqual({ status: again.status, stdout: again.stdout, stderr: again.stderr }, { status: 0, stdout: '', stderr: '' });
  assert.equal(readFileSync(join(dir, 'master.cf'), 'utf8'), text);
});

const real = existsSync('/usr/sbin/postfix') && existsSync('/etc/postfix/post-install') && process.getuid?.() === 0;
test('the same master.cf and messages as the real postfix upgrade-configuration', { skip: real ? false : 'needs the real Postfix (/usr/sbin/postfix, /etc/postfix/post-install) and root' }, () => {
  const mine = configDir();
  const theirs = configDir();
  cpSync(join(mine, 'master.cf'), join(theirs, 'master.cf'));
  const r = upgrade(mine);
  const p = spawnSync('/usr/sbin/postfix', ['-c', theirs, 'upgrade-configuration'], { encoding: 'utf8' });
  assert.equal(p.status, 0, p.stderr);
  assert.equal(readFileSync(join(mine, 'master.cf'), 'utf8'), readFileSync(join(theirs, 'master.cf'), 'utf8'));
  const editing = (out: string, dir: string) => out.split('\n').filter((l) => l.startsWith('Editing ') && l.includes('master.cf')).map((l) => l.replace(dir, 'DIR'));
  assert.deepEqual(editing(r.stdout, mine), editing(p.stdout + p.stderr, theirs));
});
