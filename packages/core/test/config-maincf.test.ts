import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isPosternError } from '../src/errors.js';
import { loadMainCf, parseMainCf } from '../src/config/index.js';

const FIXTURES = fileURLToPath(new URL('../../test/fixtures/postfix/', import.meta.url));

interface ParseCase {
  readonly label: string;
  readonly text: string;
  /** name -> effective value */
  readonly want: Record<string, string>;
  readonly warnings?: readonly string[];
}

const PARSE_CASES: readonly ParseCase[] = [
  { label: 'plain', text: 'myhostname = mx.example.com\n', want: { myhostname: 'mx.example.com' } },
  { label: 'no spaces around =', text: 'relayhost=[mail.example.com]:587\n', want: { relayhost: '[mail.example.com]:587' } },
  { label: 'empty value', text: 'relayhost =\n', want: { relayhost: '' } },
  { label: 'trailing white space trimmed', text: 'relayhost  =   x y   \n', want: { relayhost: 'x y' } },
  { label: 'value with =', text: 'mua = a=b\n', want: { mua: 'a=b' } },
  {
    label: 'continuation lines joined with one space',
    text: 'mydestination = a\n    b\n\tc\n \t d\nmyorigin = x,\n  y\n',
    want: { mydestination: 'a b c d', myorigin: 'x, y' },
  },
  {
    label: 'comments and blank lines do not end a logical line',
    text: '# head\nmydestination = a\n  b\n # indented comment\n\n\td\nrelayhost = r\n',
    want: { mydestination: 'a b d', relayhost: 'r' },
  },
  { label: 'no final newline', text: 'biff = no', want: { biff: 'no' } },
  { label: 'CRLF line ends', text: 'biff = no\r\nrelayhost = x\r\n', want: { biff: 'no', relayhost: 'x' } },
  {
    label: 'later definition overrides, with Postfix warning',
    text: 'myhostname = a.example.com\nmyhostname=b.example.com\n',
    want: { myhostname: 'b.example.com' },
    warnings: ['/etc/postfix/main.cf, line 2: overriding earlier entry: myhostname=a.example.com'],
  },
  {
    label: 'white-space-led first line is ignored, with Postfix warning',
    text: '  lead = 1\nx=2\n',
    want: { x: '2' },
    warnings: ['/etc/postfix/main.cf: logical line must not start with whitespace: "  lead = 1"'],
  },
];

for (const c of PARSE_CASES) {
  test(`main.cf parse: ${c.label}`, () => {
    const cf = parseMainCf(c.text, '/etc/postfix/main.cf');
    const got: Record<string, string> = {};
    for (const [name, p] of cf.params) got[name] = p.value;
    assert.deepEqual(got, c.want);
    assert.deepEqual(cf.warnings, c.warnings ?? []);
  });
}

test('main.cf parse keeps items in order with line numbers', () => {
  const cf = parseMainCf('# c1\n\nfoo = 1\n  2\n# inner\n  3\nbar = x\n# tail\n', 'main.cf');
  assert.deepEqual(
    cf.items.map((i) => [i.kind, i.line, i.kind === 'param' ? `${i.name}=${i.value}/${i.endLine}` : i.text]),
    [
      ['comment', 1, '# c1'],
      ['blank', 2, ''],
      ['param', 3, 'foo=1 2 3/6'],
      ['comment', 5, '# inner'],
      ['param', 7, 'bar=x/7'],
      ['comment', 8, '# tail'],
    ],
  );
  assert.deepEqual(cf.entries.map((e) => e.name), ['foo', 'bar']);
});

const ERROR_CASES = [
  { label: 'no =', text: 'biff = no\nnot a param line\n', line: 2, message: 'missing \'=\' after attribute name: "not a param line"' },
  { label: 'space in name', text: 'my destination = a\n', line: 1, message: 'missing \'=\' after attribute name: "my destination = a"' },
  { label: 'empty name', text: '# x\n= a\n', line: 2, message: 'missing attribute name: "= a"' },
  { label: 'continuation does not hide the error line', text: 'a = 1\n  b\nc\n  d\n', line: 3, message: 'missing \'=\' after attribute name: "c d"' },
] as const;

for (const c of ERROR_CASES) {
  test(`main.cf syntax error: ${c.label}`, () => {
    assert.throws(
      () => parseMainCf(c.text, '/etc/postfix/main.cf'),
      (err: unknown) =>
        isPosternError(err, 'POSTERN_ERR_CONFIG_SYNTAX') && err.message === `/etc/postfix/main.cf, line ${c.line}: ${c.message}`,
    );
  });
}

test('Debian main.cf and main.cf.dist parse without errors', async () => {
  const debian = parseMainCf(await readFile(join(FIXTURES, 'main.cf.debian'), 'utf8'), 'main.cf.debian');
  assert.equal(debian.params.get('compatibility_level')?.value, '3.6');
  assert.equal(debian.params.get('smtpd_banner')?.value, '$myhostname ESMTP $mail_name (Debian/GNU)');
  assert.equal(debian.params.get('smtpd_banner')?.line, 9);
  assert.deepEqual(debian.warnings, []);
  const dist = parseMainCf(await readFile(join(FIXTURES, 'main.cf.dist'), 'utf8'), 'main.cf.dist');
  assert.ok(dist.items.length > 600);
  assert.deepEqual(dist.warnings, []);
});

test('loadMainCf reads <dir>/main.cf and reports a missing file', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'postern-maincf-'));
  try {
    await assert.rejects(loadMainCf(dir), (err: unknown) => isPosternError(err, 'POSTERN_ERR_CONFIG_READ') && err.message.includes(join(dir, 'main.cf')));
    await writeFile(join(dir, 'main.cf'), 'myorigin = example.com\n');
    const cf = await loadMainCf(dir);
    assert.equal(cf.file, join(dir, 'main.cf'));
    assert.equal(cf.params.get('myorigin')?.value, 'example.com');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
