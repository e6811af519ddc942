// Inline pattern tables (Postfix 3.7 dict_stream): regexp:{ {rule}, ... }, pcre:{...}, cidr:{...}.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createTableRegistry, inlineToMultiline, parsePatternTable } from '../src/index.js';
import type { PatternSyntax, TableDiagnostic } from '../src/index.js';
import { isPosternError } from '@postern/core';

// Postfix's dict_stream_test cases: the in-memory file, or the reason.
const STREAM: { name: string; want?: string; error?: string }[] = [
  { name: '{{foo bar}, {blah blah}}', want: 'foo bar\nblah blah\n' },
  { name: '{{ foo bar }, { blah blah }}', want: 'foo bar\nblah blah\n' },
  { name: '{, ,{foo bar}, {blah blah}, ,}', want: 'foo bar\nblah blah\n' },
  { name: '{, }', want: '' },
  { name: '{ {/a{2}/ x} }', want: '/a{2}/ x\n' },
  { name: '{\n  {/a/ b},\n\t{/c/ d}\n}', want: '/a/ b\n/c/ d\n' },
  { name: '{{foo bar}, {blah blah}}x', error: `syntax error after '}' in "{{foo bar}, {blah blah}}x"` },
  { name: '{{foo bar}, {blah blah}x}', error: `syntax error after '}' in "{blah blah}x"` },
  { name: '{{foo bar}, blah}', error: `no '{' at start of text in "blah"` },
  { name: '{{foo bar}', error: `missing '}' in "{{foo bar}"` },
];
for (const c of STREAM) {
  test(`inlineToMultiline ${JSON.stringify(c.name)}`, () => {
    if (c.error === undefined) assert.equal(inlineToMultiline(c.name), c.want);
    else assert.throws(() => inlineToMultiline(c.name), { message: c.error });
  });
}

const DEBIAN = 'regexp:{{/^[^A-Z]/ Bogus}}';
const RULES = '{ {/^(.*)@example\\.com$/ local $1}, {/^Upper/i case-sensitive}, {/^upper/ any case}, {/^a/ first}, {/^ab/ second} }';

const LOOKUPS: { spec: string; key: string; want: string | undefined }[] = [
  // Debian's smtpd_forbidden_commands entry: the default is case-insensitive
  { spec: DEBIAN, key: '1abc', want: 'Bogus' },
  { spec: DEBIAN, key: '.', want: 'Bogus' },
  { spec: DEBIAN, key: 'abc', want: undefined },
  { spec: DEBIAN, key: 'ABC', want: undefined },
  { spec: 'pcre:{{/^[^A-Z]/ Bogus}}', key: '1abc', want: 'Bogus' },
  { spec: 'pcre:{{/^[^A-Z]/ Bogus}}', key: 'abc', want: undefined },
  ...(['regexp', 'pcre'] as const).flatMap((type) => [
    { spec: `${type}:${RULES}`, key: 'Joe@Example.COM', want: 'local Joe' },
    { spec: `${type}:${RULES}`, key: 'Upper', want: 'case-sensitive' },
    { spec: `${type}:${RULES}`, key: 'UPPER', want: 'any case' },
    { spec: `${type}:${RULES}`, key: 'abc', want: 'first' },
    { spec: `${type}:${RULES}`, key: 'zzz', want: undefined },
    { spec: `${type}:{ {if /^x/}, {/y$/ x and y}, {endif}, {/y$/ only y} }`, key: 'xy', want: 'x and y' },
    { spec: `${type}:{ {if /^x/}, {/y$/ x and y}, {endif}, {/y$/ only y} }`, key: 'ay', want: 'only y' },
    { spec: `${type}:{ {/^(a) (b)$/ \${2}\${1} $$} }`, key: 'a b', want: 'ba $' },
    { spec: `${type}:{}`, key: 'a', want: undefined },
  ]),
  { spec: 'cidr:{ {10.0.0.0/8 inside}, {0.0.0.0/0 outside} }', key: '10.1.2.3', want: 'inside' },
  { spec: 'cidr:{ {10.0.0.0/8 inside}, {0.0.0.0/0 outside} }', key: '192.0.2.1', want: 'outside' },
];
for (const c of LOOKUPS) {
  test(`${c.spec} lookup ${JSON.stringify(c.key)}`, async () => {
    assert.equal(await createTableRegistry().open(c.spec).lookup(c.key), c.want);
  });
}

test('pcre inline rules use PCRE syntax', async () => {
  const table = createTableRegistry().open('pcre:{ {/^\\d+(?=x)/ digits}, {/\\Qa.b\\E/ quoted} }');
  assert.equal(await table.lookup('12x'), 'digits');
  assert.equal(await table.lookup('a.b'), 'quoted');
  assert.equal(await table.lookup('axb'), undefined);
});

const OPEN_ERRORS: { spec: string; message: string }[] = [
  {
    spec: 'regexp:{{/a/ b}x}',
    message: `open table regexp:{{/a/ b}x}: regexp map: syntax error after '}' in "{/a/ b}x"`,
  },
  { spec: 'pcre:{ /a/ b }', message: `open table pcre:{ /a/ b }: pcre map: no '{' at start of text in "/a/"` },
  { spec: 'regexp:{{/a/ b}', message: `open table regexp:{{/a/ b}: regexp map: missing '}' in "{{/a/ b}"` },
  { spec: 'cidr:{ {10.0.0.0/8 x} }}', message: `open table cidr:{ {10.0.0.0/8 x} }}: cidr map: syntax error after '}' in "{ {10.0.0.0/8 x} }}"` },
];
for (const c of OPEN_ERRORS) {
  test(`${c.spec} fails to open`, () => {
    assert.throws(
      () => createTableRegistry().open(c.spec),
      (e: unknown) => isPosternError(e, 'POSTERN_ERR_TABLE_OPEN') && e.message === c.message,
    );
  });
}

for (const syntax of ['regexp', 'pcre'] as PatternSyntax[]) {
  test(`${syntax}: a bad inline rule is skipped with a warning naming the table and rule number`, () => {
    const name = '{ {/a/ one}, {/b(/ two}, {/c/ three} }';
    const diags: TableDiagnostic[] = [];
    const rules = parsePatternTable(inlineToMultiline(name), name, syntax, (d) => diags.push(d));
    assert.equal(rules.length, 2);
    assert.equal(diags.length, 1);
    assert.ok(diags[0]!.text.startsWith(`${syntax} map ${name}, line 2: `), diags[0]!.text);
  });
}
