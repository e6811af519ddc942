import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, writeFileSync, chmodSync, existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PassThrough, Readable } from 'node:stream';
import { createTableRegistry } from '@postern/tables';
import type { TableRegistry } from '@postern/core';
import { mapCommand } from '../src/commands/map.js';
import { aliasCommand, newaliasesCommand } from '../src/commands/alias.js';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function collect(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  return { stream, text: () => Buffer.concat(chunks).toString('utf8') };
}

type Cmd = typeof mapCommand;

async function run(cmd: Cmd, registry: TableRegistry, argv: string[], stdin = ''): Promise<Run> {
  const out = collect();
  const err = collect();
  const code = await cmd(argv, { stdout: out.stream, stderr: err.stream, stdin: Readable.from([Buffer.from(stdin)]), env: {} }, { registry, defaultType: 'lmdb' });
  return { code, stdout: out.text(), stderr: err.text() };
}

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'postern-postmap-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('postmap: build, then lookups through the registry; -q exit codes', async (t) => {
  const dir = tempDir(t);
  const src = join(dir, 'virtual');
  writeFileSync(src, '# virtual\nInfo@Example.com  alice\nsales@example.com bob,\n  carol\n');
  chmodSync(src, 0o640);
  const reg = createTableRegistry();
  const built = await run(mapCommand, reg, [src]);
  assert.deepEqual(built, { code: 0, stdout: '', stderr: '' });
  assert.ok(existsSync(`${src}.lmdb`));
  assert.equal(statSync(`${src}.lmdb`).mode & 0o777, 0o640);
  const service = createTableRegistry();
  assert.equal(await service.open(`lmdb:${src}`).lookup('INFO@example.com'), 'alice');
  assert.equal(await service.open(`lmdb:${src}`).lookup('sales@example.com'), 'bob,  carol');
  assert.deepEqual(await run(mapCommand, reg, ['-q', 'info@EXAMPLE.com', `lmdb:${src}`]), { code: 0, stdout: 'alice\n', stderr: '' });
  assert.deepEqual(await run(mapCommand, reg, ['-q', 'nobody', src]), { code: 1, stdout: '', stderr: '' });
  const q = await run(mapCommand, reg, ['-q', '-', src], 'info@example.com\nnobody\nsales@example.com\n');
  assert.deepEqual(q, { code: 0, stdout: 'info@example.com\talice\nsales@example.com\tbob,  carol\n', stderr: '' });
  const s = await run(mapCommand, reg, ['-s', src]);
  assert.equal(s.code, 0);
  assert.deepEqual(s.stdout.split('\n').filter(Boolean).sort(), ['info@example.com\talice', 'sales@example.com\tbob,  carol']);
});

test('postmap: duplicate warnings with file and line; -r and -w', async (t) => {
  const dir = tempDir(t);
  const src = join(dir, 'access');
  writeFileSync(src, 'a one\nb two\nA three\nbad\n');
  const reg = createTableRegistry();
  const r = await run(mapCommand, reg, [src]);
  assert.equal(r.code, 0);
  assert.equal(r.stderr, `postmap: warning: ${src}, line 3: duplicate entry: "a"\npostmap: warning: ${src}, line 4: expected format: key whitespace value\n`);
  assert.equal((await run(mapCommand, reg, ['-q', 'a', src])).stdout, 'one\n');
  assert.equal((await run(mapCommand, reg, ['-r', src])).stderr, `postmap: warning: ${src}, line 4: expected format: key whitespace value\n`);
  assert.equal((await run(mapCommand, reg, ['-q', 'a', src])).stdout, 'three\n');
  assert.equal((await run(mapCommand, reg, ['-w', src])).stderr.includes('duplicate'), false);
  assert.equal((await run(mapCommand, reg, ['-q', 'a', src])).stdout, 'one\n');
});

test('postmap -f keeps case; default folds', async (t) => {
  const dir = tempDir(t);
  const src = join(dir, 'cs');
  writeFileSync(src, 'MixedKey v\n');
  const reg = createTableRegistry();
  assert.equal((await run(mapCommand, reg, ['-f', src])).code, 0);
  assert.equal((await run(mapCommand, reg, ['-q', 'MixedKey', src])).stdout, 'v\n');
  assert.equal((await run(mapCommand, reg, ['-q', 'mixedkey', src])).code, 1);
});

test('postmap -i adds from stdin; -d deletes; -d - reads keys', async (t) => {
  const dir = tempDir(t);
  const src = join(dir, 'relocated');
  writeFileSync(src, 'a 1\n');
  const reg = createTableRegistry();
  await run(mapCommand, reg, [src]);
  const inc = await run(mapCommand, reg, ['-i', src], 'b 2\nA dup\nc 3\n');
  assert.equal(inc.code, 0);
  assert.equal(inc.stderr, 'postmap: warning: stdin, line 2: duplicate entry: "a"\n');
  assert.equal((await run(mapCommand, reg, ['-q', 'c', src])).stdout, '3\n');
  assert.equal((await run(mapCommand, reg, ['-q', 'a', src])).stdout, '1\n');
  assert.equal((await run(mapCommand, reg, ['-d', 'B', src])).code, 0);
  assert.equal((await run(mapCommand, reg, ['-d', 'b', src])).code, 1);
  assert.equal((await run(mapCommand, reg, ['-d', '-', src], 'zz\nc\n')).code, 0);
  const left = await run(mapCommand, reg, ['-s', src]);
  assert.equal(left.stdout, 'a\t1\n');
  const fresh = join(dir, 'fresh');
  assert.equal((await run(mapCommand, reg, ['-i', `hash:${fresh}`], 'k v\n')).code, 0);
  assert.equal((await run(mapCommand, reg, ['-q', 'k', `lmdb:${fresh}`])).stdout, 'v\n');
});

test('postmap: hash: builds lmdb with a notice; errors are fatal with exit 1', async (t) => {
  const dir = tempDir(t);
  const src = join(dir, 'transport');
  writeFileSync(src, 'example.com smtp:[relay]\n');
  const reg = createTableRegistry();
  const r = await run(mapCommand, reg, [`hash:${src}`]);
  assert.deepEqual(r, { code: 0, stdout: '', stderr: `postmap: notice: hash:${src}: using lmdb:${src} (Postern's indexed table type)\n` });
  assert.equal((await run(mapCommand, reg, ['-q', 'example.com', `lmdb:${src}`])).stdout, 'smtp:[relay]\n');
  const missing = await run(mapCommand, reg, [join(dir, 'none')]);
  assert.deepEqual(missing, { code: 1, stdout: '', stderr: `postmap: fatal: open ${join(dir, 'none')}: No such file or directory\n` });
  assert.match((await run(mapCommand, reg, [])).stderr, /^postmap: fatal: usage: postmap /);
  assert.match((await run(mapCommand, reg, ['-q', 'a', '-s', src])).stderr, /specify only one of -s or -q or -d/);
  assert.match((await run(mapCommand, reg, [`regexp:${src}`])).stderr, /^postmap: fatal: unsupported dictionary type for this operation: regexp/);
  assert.match((await run(mapCommand, reg, ['-q', 'a', `nosuch:${src}`])).stderr, /^postmap: fatal: unsupported dictionary type: nosuch/);
});

test('postmap -q works on pattern tables', async (t) => {
  const dir = tempDir(t);
  const src = join(dir, 'header_checks');
  writeFileSync(src, '/^Subject: (.*)/ WARN subject $1\n');
  const reg = createTableRegistry();
  assert.deepEqual(await run(mapCommand, reg, ['-q', 'Subject: hi', `pcre:${src}`]), { code: 0, stdout: 'WARN subject hi\n', stderr: '' });
  assert.deepEqual(await run(mapCommand, reg, ['-q', 'a', `pcre:${src}`, 'inline:{ a=fallback }']), { code: 0, stdout: 'fallback\n', stderr: '' });
});

// the committed shim that npm links as node_modules/.bin/postern
const SHIM = fileURLToPath(new URL('../../bin/postern.js', import.meta.url));

test('postern map -q on an inline regexp: table (Debian smtpd_forbidden_commands)', () => {
  const postern = (...args: string[]) => {
    const r = spawnSync(process.execPath, [SHIM, 'map', ...args], { encoding: 'utf8', env: { ...process.env, POSTERN_HOME: '/nonexistent' } });
    return [r.status, r.stdout, r.stderr];
  };
  assert.deepEqual(postern('-q', '1abc', 'regexp:{{/^[^A-Z]/ Bogus}}'), [0, 'Bogus\n', '']);
  assert.deepEqual(postern('-q', 'abc', 'regexp:{{/^[^A-Z]/ Bogus}}'), [1, '', '']);
  assert.deepEqual(postern('-q', 'a', 'regexp:{{/a/ b}x}'), [
    1,
    '',
    `postmap: fatal: open table regexp:{{/a/ b}x}: regexp map: syntax error after '}' in "{/a/ b}x"\n`,
  ]);
});

test('postalias: build aliases(5) file, @ sentinel, query, -s format', async (t) => {
  const dir = tempDir(t);
  const src = join(dir, 'aliases');
  writeFileSync(src, '# aliases\nPostmaster: root\nroot: admin, "bob smith"\n"foo bar": x\n  , y\nbad line\nroot: dup\n');
  const reg = createTableRegistry();
  const r = await run(aliasCommand, reg, [src]);
  assert.equal(r.code, 0);
  assert.equal(r.stderr, `postalias: warning: ${src}, line 6: need name:value pair\npostalias: warning: ${src}, line 7: duplicate entry: "root"\n`);
  assert.equal((await run(aliasCommand, reg, ['-q', 'POSTMASTER', src])).stdout, 'root\n');
  assert.equal((await run(aliasCommand, reg, ['-q', 'foo bar', src])).stdout, 'x, y\n');
  assert.equal((await run(aliasCommand, reg, ['-q', '@', src])).stdout, '@\n');
  assert.equal((await run(aliasCommand, reg, ['-q', '-', src], 'root\nnone\n')).stdout, 'root:\tadmin, "bob smith"\n');
  const s = await run(aliasCommand, reg, ['-s', src]);
  assert.deepEqual(s.stdout.split('\n').filter(Boolean).sort(), ['@:\t@', 'foo bar:\tx, y', 'postmaster:\troot', 'root:\tadmin, "bob smith"']);
  const service = createTableRegistry();
  assert.equal(await service.open(`hash:${src}`).lookup('root'), 'admin, "bob smith"');
});

test('newaliases builds every table in $alias_database', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'aliases'), 'root: admin\n');
  writeFileSync(join(dir, 'more'), 'x: y\n');
  const reg = createTableRegistry();
  const out = collect();
  const err = collect();
  const code = await newaliasesCommand([], { stdout: out.stream, stderr: err.stream, stdin: Readable.from([]), env: {} }, {
    registry: reg,
    defaultType: 'lmdb',
    aliasDatabase: `hash:${join(dir, 'aliases')}, lmdb:${join(dir, 'more')}`,
  });
  assert.equal(code, 0);
  assert.equal(err.text(), `postalias: notice: hash:${join(dir, 'aliases')}: using lmdb:${join(dir, 'aliases')} (Postern's indexed table type)\n`);
  assert.equal(await createTableRegistry().open(`lmdb:${join(dir, 'aliases')}`).lookup('root'), 'admin');
  assert.equal(await createTableRegistry().open(`lmdb:${join(dir, 'more')}`).lookup('x'), 'y');
});

const CHECKS = '/^Subject: .*spam/ REJECT spam subject\n/^X-Mailer: (.*)/ WARN mailer $1\n/^Content-Type: application\\/octet/ REJECT attachment header\n/viagra/ REJECT body word\n/^--XYZ/ WARN boundary\n';
const MESSAGE = [
  'From: a@example.com',
  'Subject: buy spam',
  ' now',
  'X-Mailer: Foo 1.0',
  'MIME-Version: 1.0',
  'Content-Type: multipart/mixed; boundary="XYZ"',
  '',
  'preamble viagra',
  '--XYZ',
  'Content-Type: application/octet-stream',
  '',
  'viagra inside',
  '--XYZ--',
  '',
].join('\n');

test('postmap -h / -b / -m: header_checks and body_checks keys of a message on stdin', async (t) => {
  const dir = tempDir(t);
  const checks = join(dir, 'checks');
  writeFileSync(checks, CHECKS);
  const reg = createTableRegistry();
  const spec = `regexp:${checks}`;
  const h = await run(mapCommand, reg, ['-h', '-q', '-', spec], MESSAGE);
  assert.deepEqual(h, { code: 0, stdout: 'Subject: buy spam\n now\tREJECT spam subject\nX-Mailer: Foo 1.0\tWARN mailer Foo 1.0\n', stderr: '' });
  const hm = await run(mapCommand, reg, ['-hm', '-q', '-', spec], MESSAGE);
  assert.match(hm.stdout, /\nContent-Type: application\/octet-stream\tREJECT attachment header\n$/);
  const b = await run(mapCommand, reg, ['-b', '-q', '-', spec], MESSAGE);
  assert.equal(
    b.stdout,
    'preamble viagra\tREJECT body word\n--XYZ\tWARN boundary\nContent-Type: application/octet-stream\tREJECT attachment header\nviagra inside\tREJECT body word\n--XYZ--\tWARN boundary\n',
  );
  const bm = await run(mapCommand, reg, ['-bm', '-q', '-', spec], MESSAGE);
  assert.equal(bm.stdout, 'preamble viagra\tREJECT body word\n--XYZ\tWARN boundary\nviagra inside\tREJECT body word\n--XYZ--\tWARN boundary\n');
  assert.deepEqual(await run(mapCommand, reg, ['-b', '-q', 'x', spec]), { code: 1, stdout: '', stderr: 'postmap: fatal: specify -b -h or -m only with "-q -"\n' });
  assert.equal((await run(mapCommand, reg, ['-m', '-q', '-', spec], 'viagra\n')).stderr, 'postmap: warning: ignoring -m option without -b or -h\n');
});

test('postmap -F: values name files stored base64-encoded; -q and -s decode; bad base64 is fatal', async (t) => {
  const dir = tempDir(t);
  const cwd = process.cwd();
  process.chdir(dir);
  t.after(() => process.chdir(cwd));
  writeFileSync('f1.txt', 'line1\nline2\n');
  writeFileSync('f2.txt', 'other');
  writeFileSync('certs', 'k1 f1.txt\nk2 f1.txt, f2.txt\nk3 nosuch.txt\n');
  const reg = createTableRegistry();
  const built = await run(mapCommand, reg, ['-F', 'lmdb:certs']);
  assert.deepEqual(built, { code: 0, stdout: '', stderr: 'postmap: warning: certs, line 3: open nosuch.txt: No such file or directory: skipping this entry\n' });
  assert.equal((await run(mapCommand, reg, ['-q', 'k2', 'lmdb:certs'])).stdout, 'bGluZTEKbGluZTIKCm90aGVy\n');
  assert.equal((await run(mapCommand, reg, ['-F', '-q', 'k2', 'lmdb:certs'])).stdout, 'line1\nline2\n\nother\n');
  const s = await run(mapCommand, reg, ['-F', '-s', 'lmdb:certs']);
  assert.deepEqual(s.stdout.split('\t').length, 3);
  assert.match(s.stdout, /^k1\tline1\nline2\n\n/m);
  writeFileSync('plain', 'k1 notbase64!\n');
  await run(mapCommand, reg, ['lmdb:plain']);
  assert.deepEqual(await run(mapCommand, reg, ['-F', '-q', 'k1', 'lmdb:plain']), {
    code: 1,
    stdout: '',
    stderr: 'postmap: warning: table lmdb:plain.lmdb: key k1: malformed BASE64 value: notbase64!\npostmap: fatal: table lmdb:plain.lmdb: query error\n',
  });
});

test('postmap -b/-h/-m and -F give what the real postmap gives', { skip: existsSync('/usr/sbin/postmap') ? false : 'the real Postfix postmap (/usr/sbin/postmap) is not installed' }, async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'main.cf'), '');
  const checks = join(dir, 'checks');
  writeFileSync(checks, CHECKS);
  const nested = ['Subject: nested', 'Content-Type: multipart/mixed;', '\tboundary="OUT"', '', '--OUT', 'Content-Type: message/rfc822', '', 'Subject: inner spam', 'X-Mailer: Inner', '', 'inner viagra', '--OUT--', 'after viagra', ''].join('\n');
  const reg = createTableRegistry();
  for (const message of [MESSAGE, nested]) {
    for (const flags of ['-h', '-hm', '-b', '-bm', '-bh', '-bhm']) {
      const real = spawnSync('/usr/sbin/postmap', ['-c', dir, flags, '-q', '-', `regexp:${checks}`], { input: message, encoding: 'utf8' });
      const mine = await run(mapCommand, reg, [flags, '-q', '-', `regexp:${checks}`], message);
      assert.deepEqual({ code: mine.code, stdout: mine.stdout, stderr: mine.stderr }, { code: real.status, stdout: real.stdout, stderr: real.stderr }, flags);
    }
  }
  // -F: the same base64 as the real postmap stores in a hash table.
  writeFileSync(join(dir, 'f1'), 'a\nb\n');
  writeFileSync(join(dir, 'f2'), 'c');
  writeFileSync(join(dir, 'map'), `k ${join(dir, 'f1')} ${join(dir, 'f2')}\n`);
  assert.equal(spawnSync('/usr/sbin/postmap', ['-c', dir, '-F', `hash:${join(dir, 'map')}`]).status, 0);
  const theirs = spawnSync('/usr/sbin/postmap', ['-c', dir, '-s', `hash:${join(dir, 'map')}`], { encoding: 'utf8' }).stdout;
  await run(mapCommand, reg, ['-F', `lmdb:${join(dir, 'map')}`]);
  assert.equal((await run(mapCommand, reg, ['-s', `lmdb:${join(dir, 'map')}`])).stdout, theirs);
});
