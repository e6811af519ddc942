import { test } from 'node:test';
import assert from 'node:assert/strict';
import { collectEntries, logicalLines, parseAliasSource, parseMapSource } from '../src/index.js';
import { isPosternError } from '@postern/core';
import type { TableDiagnostic } from '../src/index.js';

test('logicalLines: comments, blank lines, continuation keeps leading whitespace', () => {
  const text = '# c\n\na b\n  c\n\t# not a continuation: a comment\nd e\r\n  \n';
  assert.deepEqual(logicalLines(text), [
    { text: 'a b  c', line: 3 },
    { text: 'd e', line: 6 },
  ]);
});

const MAP_CASES: { name: string; text: string; entries: [string, string, number][]; diags: string[] }[] = [
  { name: 'simple', text: 'a b\nfoo bar baz\n  continued\n', entries: [['a', 'b', 1], ['foo', 'bar baz  continued', 2]], diags: [] },
  { name: 'quoted key with space', text: '"a b"@x value\n', entries: [['"a b"@x', 'value', 1]], diags: [] },
  { name: 'missing value', text: 'lonely\nk v\n', entries: [['k', 'v', 2]], diags: ['f, line 1: expected format: key whitespace value'] },
  { name: 'unbalanced quote', text: '"a b value\n', entries: [], diags: [`f, line 1: unbalanced '"' in '"a b value' -- ignoring this line`] },
  { name: 'alias-style record kept with warning', text: 'root: admin\n', entries: [['root:', 'admin', 1]], diags: ['f, line 1: record is in "key: value" format; is this an alias file?'] },
];

for (const c of MAP_CASES) {
  test(`parseMapSource: ${c.name}`, () => {
    const diags: TableDiagnostic[] = [];
    const entries = parseMapSource(c.text, 'f', (d) => diags.push(d));
    assert.deepEqual(entries.map((e) => [e.key, e.value, e.line]), c.entries);
    assert.deepEqual(diags.map((d) => d.text), c.diags);
  });
}

test('parseMapSource: syntax errors are coded POSTERN_ERR_TABLE_SYNTAX with file and line', () => {
  const diags: TableDiagnostic[] = [];
  parseMapSource('a b\n\nbad\n', '/etc/postfix/virtual', (d) => diags.push(d));
  assert.equal(diags.length, 1);
  assert.ok(isPosternError(diags[0]!.error, 'POSTERN_ERR_TABLE_SYNTAX'));
  assert.equal(diags[0]!.error!.message, '/etc/postfix/virtual, line 3: expected format: key whitespace value');
  assert.throws(() => parseMapSource('bad\n', 'x'), (err: unknown) => isPosternError(err, 'POSTERN_ERR_TABLE_SYNTAX') && /x, line 1:/.test(err.message));
});

test('collectEntries: duplicate policies and case folding', () => {
  const entries = parseMapSource('A one\nb two\na three\n', 'src');
  const diags: string[] = [];
  const warnMap = collectEntries(entries, { fold: true, duplicates: 'warn', file: 'src', onDiagnostic: (d) => diags.push(d.text) });
  assert.deepEqual([...warnMap], [['a', 'one'], ['b', 'two']]);
  assert.deepEqual(diags, ['src, line 3: duplicate entry: "a"']);
  const rep = collectEntries(entries, { fold: true, duplicates: 'replace', file: 'src' });
  assert.equal(rep.get('a'), 'three');
  const ign: string[] = [];
  const ignMap = collectEntries(entries, { fold: true, duplicates: 'ignore', file: 'src', onDiagnostic: (d) => ign.push(d.text) });
  assert.equal(ignMap.get('a'), 'one');
  assert.deepEqual(ign, []);
  const noFold = collectEntries(entries, { fold: false, duplicates: 'warn', file: 'src' });
  assert.deepEqual([...noFold.keys()], ['A', 'b', 'a']);
});

const ALIAS_CASES: { line: string; key?: string; value?: string; diag?: string }[] = [
  { line: 'root: admin, "bob smith"', key: 'root', value: 'admin, "bob smith"' },
  { line: 'a: b,c   d', key: 'a', value: 'b, c d' },
  { line: 'e: "|cmd  x"  ,  f (comment)', key: 'e', value: '"|cmd  x", f (comment)' },
  { line: 'lists: :include:/etc/lists', key: 'lists', value: ':include:/etc/lists' },
  { line: '"foo bar": x', key: 'foo bar', value: 'x' },
  { line: 'g: h@EXAMPLE.com', key: 'g', value: 'h@EXAMPLE.com' },
  { line: 'bad line', diag: 'al, line 1: need name:value pair' },
  { line: 'x@y: z', diag: 'al, line 1: name must be local' },
  { line: 'a, b: c', diag: 'al, line 1: need name:value pair' },
  { line: 'nothing:', diag: 'al, line 1: need name:value pair' },
];

for (const c of ALIAS_CASES) {
  test(`parseAliasSource: ${c.line}`, () => {
    const diags: TableDiagnostic[] = [];
    const entries = parseAliasSource(`${c.line}\n`, 'al', (d) => diags.push(d));
    if (c.diag) {
      assert.deepEqual(entries, []);
      assert.equal(diags[0]?.text, c.diag);
      assert.ok(isPosternError(diags[0]?.error, 'POSTERN_ERR_TABLE_SYNTAX'));
    } else {
      assert.deepEqual(entries.map((e) => [e.key, e.value]), [[c.key, c.value]]);
    }
  });
}

test('parseAliasSource: continuation lines', () => {
  const entries = parseAliasSource('# x\nfoo: x\n  , y\nbar: z\n', 'al');
  assert.deepEqual(entries.map((e) => [e.key, e.value, e.line]), [['foo', 'x, y', 2], ['bar', 'z', 4]]);
});
