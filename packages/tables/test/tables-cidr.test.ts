import { test } from 'node:test';
import assert from 'node:assert/strict';
import { evalCidrRules, parseCidrTable, parseIp } from '../src/index.js';
import type { TableDiagnostic } from '../src/index.js';

const TABLE = [
  '192.168.1.1             OK',
  '192.168.0.0/16          REJECT',
  '[10.0.0.0]/8            ten',
  'if 172.16.0.0/12',
  '172.16.5.0/24 inner',
  '!172.16.0.0/16 outer',
  'endif',
  '2001:db8::/32           v6net',
  '::1                     v6loop',
  '::ffff:1.2.3.4          mapped',
  '1.2.3.4/16              skipped',
  '0.0.0.0/0               any4',
].join('\n');

const diags: TableDiagnostic[] = [];
const rules = parseCidrTable(TABLE, 'c.cidr', (d) => diags.push(d));

const CASES: [string, string | undefined][] = [
  ['192.168.1.1', 'OK'],
  ['192.168.2.3', 'REJECT'],
  ['10.1.2.3', 'ten'],
  ['172.16.5.9', 'inner'],
  ['172.17.0.1', 'outer'],
  ['172.16.6.1', 'any4'],
  ['2001:db8:1::5', 'v6net'],
  ['2001:DB8::', 'v6net'],
  ['[2001:db8::1]', 'v6net'],
  ['::1', 'v6loop'],
  ['::ffff:1.2.3.4', 'mapped'],
  ['2001:db9::1', undefined],
  ['8.8.8.8', 'any4'],
  ['not-an-address', undefined],
];

for (const [key, want] of CASES) {
  test(`cidr: ${key} -> ${want}`, () => assert.equal(evalCidrRules(rules, key), want));
}

test('cidr: host bits set are skipped with a warning naming file and line', () => {
  assert.deepEqual(diags.map((d) => d.text), [
    'cidr map c.cidr, line 11: non-null host address bits in "1.2.3.4/16", perhaps you should use "1.2.0.0/16" instead: skipping this rule',
  ]);
});

test('cidr: negation at top level', () => {
  const r = parseCidrTable('!10.0.0.0/8 outside\n', 'x');
  assert.equal(evalCidrRules(r, '11.0.0.1'), 'outside');
  assert.equal(evalCidrRules(r, '10.0.0.1'), undefined);
});

test('parseIp: v4, v6, embedded v4, invalid', () => {
  assert.deepEqual([...parseIp('1.2.3.4')!], [1, 2, 3, 4]);
  assert.deepEqual([...parseIp('::ffff:1.2.3.4')!].slice(10), [0xff, 0xff, 1, 2, 3, 4]);
  assert.equal(parseIp('fe80::1%eth0')![0], 0xfe);
  assert.equal(parseIp('1.2.3'), undefined);
});
