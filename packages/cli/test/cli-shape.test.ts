// postfix(1)'s command-line shape: global options before the command, --version, help.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

// the committed shim that npm links as node_modules/.bin/postern
const SHIM = fileURLToPath(new URL('../../bin/postern.js', import.meta.url));
const PKG = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string; bin: Record<string, string> };

function postern(args: string[], env: NodeJS.ProcessEnv = {}) {
  return spawnSync(process.execPath, [SHIM, ...args], { encoding: 'utf8', env: { ...process.env, POSTERN_HOME: '/nonexistent', ...env } });
}

test('--version prints the package version', () => {
  const r = postern(['--version']);
  assert.equal(r.status, 0);
  assert.equal(r.stdout, `postern ${PKG.version}\n`);
});

test('every bin is a committed shim', () => {
  for (const file of Object.values(PKG.bin)) {
    const text = readFileSync(new URL(`../../${file}`, import.meta.url), 'utf8');
    assert.match(text, /^#!\/usr\/bin\/env node\n/);
    assert.match(text, /import '\.\.\/dist\/src\/bin\/\w+\.js';/);
  }
});

test('help and --help list a command and its flags', () => {
  const all = postern(['help']);
  assert.equal(all.status, 0);
  assert.match(all.stdout, /^usage: postern \[-c config_dir\] \[-D\] \[-v\] command/);
  for (const cmd of ['conf', 'queue', 'super', 'map', 'start-fg']) assert.match(all.stdout, new RegExp(`\\n  ${cmd} `));
  const conf = postern(['conf', '--help']);
  assert.equal(conf.status, 0, conf.stderr);
  assert.match(conf.stdout, /^usage: postern conf /);
  assert.match(conf.stdout, /\n  -n +only the parameters set in main.cf\n/);
  assert.equal(postern(['help', 'queue']).stdout, postern(['queue', '--help']).stdout);
  const bad = postern(['help', 'nosuch']);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /no such command: nosuch/);
});

test('-c config_dir before the command, as postfix(1) takes it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'postern-cli-'));
  try {
    writeFileSync(join(dir, 'main.cf'), 'myhostname = shape.example\n');
    const before = postern(['-c', dir, 'conf', '-h', 'myhostname']);
    assert.equal(before.status, 0, before.stderr);
    assert.equal(before.stdout, 'shape.example\n');
    const after = postern(['conf', '-c', dir, '-h', 'myhostname']);
    assert.equal(after.stdout, before.stdout);
    const missing = postern(['-c', join(dir, 'nothing'), 'status']);
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /no main\.cf in .*nothing/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a bad global option or command is a usage error', () => {
  const r = postern(['-x', 'start']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /invalid option -- 'x'/);
  const u = postern(['nosuch']);
  assert.equal(u.status, 1);
  assert.match(u.stderr, /unknown command: nosuch/);
  const d = postern(['-D', 'start']);
  assert.equal(d.status, 1);
  assert.match(d.stderr, /-D .*not supported/);
});
