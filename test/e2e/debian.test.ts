/**
 * Debian's stock Postfix configuration (main.cf.debian and Postfix 3.7's
 * master.cf.dist, as the postfix package ships them) under Postern: read
 * without error, every master.cf command provided by an installed package.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { POSTERN_BIN } from '../lib/instance.js';

const FIXTURES = join(dirname(createRequire(import.meta.url).resolve('@postern/core/package.json')), 'test', 'fixtures', 'postfix');

test("Debian's main.cf and master.cf pass postern check; unsupported parameters are reported", () => {
  const dir = mkdtempSync(join(tmpdir(), 'postern-debian-'));
  // the queue below it must be reachable by mail_owner (postern check refuses it otherwise)
  chmodSync(dir, 0o755);
  try {
    const etc = join(dir, 'etc');
    mkdirSync(etc);
    copyFileSync(join(FIXTURES, 'master.cf.dist'), join(etc, 'master.cf'));
    // the stock file, with the queue moved out of /var/spool/postfix
    writeFileSync(join(etc, 'main.cf'), `${readFileSync(join(FIXTURES, 'main.cf.debian'), 'utf8')}\nqueue_directory = ${join(dir, 'spool')}\n`);
    const r = spawnSync(process.execPath, [POSTERN_BIN, 'check', '-c', etc], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /fatal|no installed package/);
    assert.match(r.stderr, /readme_directory=no: not supported by the installed Postern packages/);
    const conf = spawnSync(process.execPath, [POSTERN_BIN, 'conf', '-c', etc, '-h', 'compatibility_level', 'biff', 'smtpd_banner'], { encoding: 'utf8' });
    assert.equal(conf.status, 0, conf.stderr);
    assert.deepEqual(conf.stdout.trim().split('\n'), ['3.6', 'no', '$myhostname ESMTP $mail_name (Debian/GNU)']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
