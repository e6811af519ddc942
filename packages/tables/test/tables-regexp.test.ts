import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compilePcre, compilePosix, evalPatternRules, parsePatternTable } from '../src/index.js';
import type { PatternSyntax, TableDiagnostic } from '../src/index.js';

const TABLE = [
  '/^(.*)-outgoing@(.*)$/ 550 Use ${1}@${2} instead $$ $(1)',
  'if /^x/',
  '/^xy(z)/ got $1',
  '!/^xyz/ notxyz',
  'endif',
  '/^Ab/i case-sensitive',
  '/^ab/ insensitive',
  '/^(a)(b)?c/ [$1|$2]',
  'if !/\\.example$/',
  'if /^n/',
  '/^no(.)/ nested $1',
  'endif',
  'endif',
  '/^multi/',
  ' line result',
  '',
].join('\n');

const CASES: { key: string; want: string | undefined }[] = [
  { key: 'list-outgoing@example.com', want: '550 Use list@example.com instead $ list' },
  { key: 'xyzq', want: 'got z' },
  { key: 'xaa', want: 'notxyz' },
  { key: 'Abc', want: 'case-sensitive' },
  { key: 'ABC', want: 'insensitive' },
  { key: 'abc', want: 'insensitive' },
  { key: 'ac', want: '[a|]' },
  { key: 'nox', want: 'nested x' },
  { key: 'nox.example', want: undefined },
  { key: 'multiline', want: 'line result' },
  { key: 'zzz', want: undefined },
];

for (const syntax of ['regexp', 'pcre'] as PatternSyntax[]) {
  const diags: TableDiagnostic[] = [];
  const rules = parsePatternTable(TABLE, 'tbl', syntax, (d) => diags.push(d));
  for (const c of CASES) {
    test(`${syntax}: lookup ${c.key}`, () => {
      assert.equal(evalPatternRules(rules, c.key), c.want);
    });
  }
  test(`${syntax}: valid table produces no diagnostics`, () => {
    assert.deepEqual(diags.map((d) => d.text), []);
  });
}

const BAD: { line: string; msg: string }[] = [
  { line: '/bad(/ x', msg: 'regexp map t, line 1: ' },
  { line: '/^n(o)/ $3', msg: 'regexp map t, line 1: bad replacement syntax: skipping this rule' },
  { line: '/^n(o)/ $1x', msg: 'regexp map t, line 1: bad replacement syntax: skipping this rule' },
  { line: '/^n(o)/ $0', msg: 'regexp map t, line 1: bad replacement syntax: skipping this rule' },
  { line: 'foo bar', msg: 'regexp map t, line 1: ignoring unrecognized request' },
  { line: '!/^q(.)/ $1', msg: 'regexp map t, line 1: $number found in negative match replacement text: skipping this rule' },
  { line: '/b/q x', msg: 'regexp map t, line 1: unknown regexp option "q": skipping this rule' },
  { line: 'endif', msg: 'regexp map t, line 1: ignoring ENDIF without matching IF' },
];

for (const c of BAD) {
  test(`regexp: bad rule "${c.line}" is skipped with a warning`, () => {
    const diags: TableDiagnostic[] = [];
    const rules = parsePatternTable(`${c.line}\n/./ fallback\n`, 't', 'regexp', (d) => diags.push(d));
    assert.ok(diags.some((d) => d.text.startsWith(c.msg) && d.error?.code === 'POSTERN_ERR_TABLE_SYNTAX'), diags.map((d) => d.text).join('; '));
    assert.equal(evalPatternRules(rules, 'nox'), 'fallback');
  });
}

test('regexp: IF without ENDIF warns and applies to the end', () => {
  const diags: TableDiagnostic[] = [];
  const rules = parsePatternTable('if /a/\n/b/ x\n', 't', 'regexp', (d) => diags.push(d));
  assert.equal(evalPatternRules(rules, 'ab'), 'x');
  assert.equal(evalPatternRules(rules, 'b'), undefined);
  assert.deepEqual(diags.map((d) => d.text), ['regexp map t, line 1: IF has no matching ENDIF']);
});

const POSIX: { pattern: string; flags: string; key: string; match: boolean }[] = [
  { pattern: '^[[:alpha:]]+[[:digit:]]$', flags: '', key: 'abc1', match: true },
  { pattern: '^[[:alpha:]]+$', flags: '', key: 'ab1', match: false },
  { pattern: '^a.b$', flags: '', key: 'a\nb', match: true },
  { pattern: '^a.b$', flags: 'm', key: 'a\nb', match: false },
  { pattern: '^b$', flags: 'm', key: 'a\nb', match: true },
  { pattern: '^b$', flags: '', key: 'a\nb', match: false },
  { pattern: '[\\.]', flags: '', key: 'a\\b', match: true },
  { pattern: '[]x]', flags: '', key: ']', match: true },
  { pattern: '^a\\(b\\)\\{2\\}$', flags: 'x', key: 'abb', match: true },
  { pattern: '^a+$', flags: 'x', key: 'a+', match: true },
  { pattern: '^a+$', flags: 'x', key: 'aa', match: false },
  { pattern: '\\<word\\>', flags: '', key: 'a word here', match: true },
  { pattern: '\\<word\\>', flags: '', key: 'swordfish', match: false },
  { pattern: 'ABC', flags: '', key: 'abc', match: true },
  { pattern: 'ABC', flags: 'i', key: 'abc', match: false },
];

for (const c of POSIX) {
  test(`posix /${c.pattern}/${c.flags} vs ${JSON.stringify(c.key)}`, () => {
    const { re } = compilePosix(c.pattern, c.flags);
    assert.equal(re.test(c.key), c.match);
  });
}

const PCRE: { pattern: string; flags: string; key: string; want: string | null }[] = [
  { pattern: '^(?!owner-)(.*)-outgoing@', flags: '', key: 'list-outgoing@x', want: 'list' },
  { pattern: '^(?!owner-)(.*)-outgoing@', flags: '', key: 'owner-list-outgoing@x', want: null },
  { pattern: '(a.+)', flags: 'U', key: 'abbb', want: 'ab' },
  { pattern: '(a.+?)', flags: 'U', key: 'abbb', want: 'abbb' },
  { pattern: 'b', flags: 'A', key: 'ab', want: null },
  { pattern: '(a)', flags: 'A', key: 'ab', want: 'a' },
  { pattern: '(x)$', flags: '', key: 'ax\n', want: 'x' },
  { pattern: '(x)$', flags: 'E', key: 'ax\n', want: null },
  { pattern: 'a b # comment', flags: 'x', key: 'ab', want: '' },
  { pattern: '(?P<n>q)(?P=n)', flags: '', key: 'qq', want: 'q' },
  { pattern: '\\Aab\\z', flags: '', key: 'ab', want: '' },
  { pattern: '\\Q.*\\E', flags: '', key: 'a.*', want: '' },
  { pattern: '(?i)(ABC)', flags: 'i', key: 'abc', want: 'abc' },
  { pattern: '([[:digit:]]+)', flags: '', key: 'x42', want: '42' },
  { pattern: 'a.b', flags: '', key: 'a\nb', want: '' },
  { pattern: 'a.b', flags: 's', key: 'a\nb', want: null },
];

for (const c of PCRE) {
  test(`pcre /${c.pattern}/${c.flags} vs ${JSON.stringify(c.key)}`, () => {
    const { re } = compilePcre(c.pattern, c.flags);
    re.lastIndex = 0;
    const m = re.exec(c.key);
    assert.equal(m === null ? null : (m[1] ?? ''), c.want);
  });
}

const PCRE_UNSUPPORTED = ['a++', '(?>a)', '(?R)', '(?(1)a|b)', 'a(?i)b', '\\G', '\\p{L}'];
for (const p of PCRE_UNSUPPORTED) {
  test(`pcre: ${p} is reported as unsupported`, () => {
    assert.throws(() => compilePcre(p, ''), /unsupported PCRE construct/);
  });
}

test('pcre: X flag rejects unknown escapes', () => {
  assert.throws(() => compilePcre('\\q', 'X'), /unrecognized character/);
  assert.ok(compilePcre('\\q', '').re.test('q'));
});
