/**
 * `postern check` reports bad ownership and modes as postfix-script's check
 * does: configuration files not root's or group/other writable, queue files
 * not mail_owner's. Needs root and Debian's postfix account (mail_owner).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Instance } from '../lib/instance.js';

const root = process.getuid?.() === 0;
const pf = readFileSync('/etc/passwd', 'utf8').split('\n').map((l) => l.split(':')).find((f) => f[0] === 'postfix');

test('postern check warns about files that are not root\'s or mail_owner\'s, and writable config files', { skip: (!root && 'needs root') || (!pf && 'no postfix account (Debian package postfix)') }, async () => {
  const inst = new Instance({ main: { mail_owner: 'postfix' }, master: '' });
  try {
    const [uid, gid] = [Number(pf![2]), Number(pf![3])];
    const clean = await inst.postern(['check']);
    assert.equal(clean.code, 0, clean.stderr);
    mkdirSync(join(inst.queueDir, 'public'), { recursive: true });
    chownSync(inst.queueDir, uid, gid);
    chownSync(join(inst.queueDir, 'public'), uid, gid);
    writeFileSync(join(inst.queueDir, 'stray'), '');
    // maildrop: the directory is mail_owner's, the files are their submitters'
    mkdirSync(join(inst.queueDir, 'maildrop'), { recursive: true });
    chownSync(join(inst.queueDir, 'maildrop'), uid, gid);
    writeFileSync(join(inst.queueDir, 'maildrop', 'from-a-user'), '');
    // data_directory: mail_owner's, not group or other writable
    const data = join(inst.dir, 'data');
    mkdirSync(data, { recursive: true });
    chmodSync(data, 0o777);
    chmodSync(join(inst.configDir, 'main.cf'), 0o666);
    chownSync(join(inst.configDir, 'master.cf'), uid, gid);
    const r = await inst.postern(['check']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`warning: group or other writable: ${join(inst.configDir, 'main.cf')}$`, 'm'));
    assert.match(r.stderr, new RegExp(`warning: not owned by root: ${join(inst.configDir, 'master.cf')}$`, 'm'));
    assert.match(r.stderr, new RegExp(`warning: not owned by postfix: ${join(inst.queueDir, 'stray')}$`, 'm'));
    assert.doesNotMatch(r.stderr, /not owned by postfix: .*\/public$/m);
    assert.match(r.stderr, new RegExp(`warning: not owned by root: ${inst.queueDir}$`, 'm'));
    assert.match(r.stderr, new RegExp(`warning: not owned by postfix: ${data}$`, 'm'));
    assert.match(r.stderr, new RegExp(`warning: group or other writable: ${data}$`, 'm'));
    assert.doesNotMatch(r.stderr, /maildrop/);
    assert.doesNotMatch(clean.stderr, /not owned|writable/);
  } finally {
    await inst.dispose();
  }
});
