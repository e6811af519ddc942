import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createTableRegistry } from '../src/index.js';
import { mailAddrFind, mailAddrMap, mapsFind, quoteLocalPart, splitAddress, stripExtension, unquoteLocalPart } from '@postern/address';
import type { LookupTable } from '@postern/core';

/** A key table that records the keys it was asked for. */
function recorder(entries: Record<string, string>, pattern = false): LookupTable & { keys: string[] } {
  const keys: string[] = [];
  return {
    spec: 'test:rec',
    type: 'test',
    pattern,
    keys,
    lookup: async (k: string) => {
      keys.push(k);
      return entries[k.toLowerCase()];
    },
  };
}

const isLocal = (d: string): boolean => d === 'local.example';

test('mailAddrFind: lookup order with a delimiter, local domain', async () => {
  const t = recorder({});
  assert.equal(await mailAddrFind([t], 'user+ext@local.example', { recipientDelimiter: '+', isLocalDomain: isLocal }), undefined);
  assert.deepEqual(t.keys, ['user+ext@local.example', 'user@local.example', 'user+ext', 'user', '@local.example']);
});

test('mailAddrFind: lookup order without a delimiter, remote domain', async () => {
  const t = recorder({});
  await mailAddrFind([t], 'user+ext@remote.example', { isLocalDomain: isLocal });
  assert.deepEqual(t.keys, ['user+ext@remote.example', '@remote.example']);
});

test('mailAddrFind: several delimiter characters; first one splits', async () => {
  const t = recorder({ 'user@local.example': 'hit' });
  const r = await mailAddrFind([t], 'user-a+b@local.example', { recipientDelimiter: '+-' });
  assert.equal(r?.value, 'hit');
  assert.equal(r?.extension, '-a+b');
  assert.equal(r?.key, 'user@local.example');
});

test('mailAddrFind: owner- and -request are not split when - is a delimiter', () => {
  assert.equal(stripExtension('owner-list@x', '-'), undefined);
  assert.equal(stripExtension('list-request@x', '-'), undefined);
  assert.equal(stripExtension('MAILER-DAEMON@x', '-'), undefined);
  assert.deepEqual(stripExtension('postmaster+x@x', '+'), { stripped: 'postmaster@x', extension: '+x' });
  assert.equal(stripExtension('+x@x', '+'), undefined);
  assert.deepEqual(stripExtension('a+b+c@x', '+'), { stripped: 'a@x', extension: '+b+c' });
  assert.deepEqual(stripExtension('a+b', '+'), { stripped: 'a', extension: '+b' });
});

const ORDER: { name: string; entries: Record<string, string>; address: string; value?: string; extension?: string }[] = [
  { name: 'full address wins', entries: { 'u+e@local.example': 'full', 'u@local.example': 'bare' }, address: 'u+e@local.example', value: 'full' },
  { name: 'bare address', entries: { 'u@local.example': 'bare', u: 'local' }, address: 'u+e@local.example', value: 'bare', extension: '+e' },
  { name: 'local part with extension', entries: { 'u+e': 'lx', u: 'l' }, address: 'u+e@local.example', value: 'lx' },
  { name: 'local part', entries: { u: 'l', '@local.example': 'dom' }, address: 'u+e@local.example', value: 'l', extension: '+e' },
  { name: 'local part not used for remote domains', entries: { u: 'l', '@remote.example': 'dom' }, address: 'u@remote.example', value: 'dom' },
  { name: '@domain', entries: { '@local.example': 'dom' }, address: 'x@local.example', value: 'dom' },
  { name: 'address without domain', entries: { u: 'l' }, address: 'u+e', value: 'l', extension: '+e' },
];

for (const c of ORDER) {
  test(`mailAddrFind: ${c.name}`, async () => {
    const r = await mailAddrFind([recorder(c.entries)], c.address, { recipientDelimiter: '+', isLocalDomain: isLocal });
    assert.equal(r?.value, c.value);
    assert.equal(r?.extension, c.extension);
  });
}

test('mailAddrFind: pattern tables see only the full address; key-major order', async () => {
  const pat = recorder({ '@local.example': 'never' }, true);
  const key = recorder({ '@local.example': 'domain' });
  const r = await mailAddrFind([pat, key], 'u+e@local.example', { recipientDelimiter: '+', isLocalDomain: isLocal });
  assert.equal(r?.value, 'domain');
  assert.deepEqual(pat.keys, ['u+e@local.example']);
  assert.deepEqual(key.keys, ['u+e@local.example', 'u@local.example', 'u+e', 'u', '@local.example']);
});

test('mailAddrFind: queries the quoted form first, then the internal form', async () => {
  const t = recorder({ 'a b@x': 'internal' });
  const r = await mailAddrFind([t], 'a b@x');
  assert.equal(r?.value, 'internal');
  assert.deepEqual(t.keys, ['"a b"@x', 'a b@x']);
});

test('mapsFind: first table that answers wins; partial skips pattern tables', async () => {
  const reg = createTableRegistry();
  const tables = reg.openList('inline:{ a=first } inline:{ a=second, b=two }');
  assert.equal((await mapsFind(tables, 'a'))?.value, 'first');
  assert.equal((await mapsFind(tables, 'b'))?.value, 'two');
  assert.equal(await mapsFind(tables, 'c'), undefined);
  const pat = recorder({ a: 'pattern' }, true);
  assert.equal(await mapsFind([pat], 'a', { partial: true }), undefined);
  assert.deepEqual(pat.keys, []);
});

const MAP: { name: string; entries: string; address: string; propagate: boolean; delim: string; want: string[] | undefined }[] = [
  { name: 'no extension', entries: 'inline:{ aa@example.com=bb@example.com }', address: 'aa@example.com', propagate: true, delim: '+', want: ['bb@example.com'] },
  { name: 'extension propagated', entries: 'inline:{ aa@example.com=bb@example.com }', address: 'aa+ext@example.com', propagate: true, delim: '+', want: ['bb+ext@example.com'] },
  { name: 'no delimiter, no match', entries: 'inline:{ aa@example.com=bb@example.com }', address: 'aa+ext@example.com', propagate: true, delim: '', want: undefined },
  { name: 'not propagated', entries: 'inline:{ aa@example.com=bb@example.com }', address: 'aa+ext@example.com', propagate: false, delim: '+', want: ['bb@example.com'] },
  { name: 'full match, two results', entries: 'inline:{ {cc+ext@example.com=dd@example.com,ee@example.com} }', address: 'cc+ext@example.com', propagate: true, delim: '+', want: ['dd@example.com', 'ee@example.com'] },
  { name: 'quoted', entries: 'inline:{ {"a a"@example.com="b b"@example.com} }', address: 'a a+ext@example.com', propagate: true, delim: '+', want: ['b b+ext@example.com'] },
  { name: '@otherdomain', entries: 'inline:{ {@example.com=@example.net} }', address: 'a@a@example.com', propagate: true, delim: '+', want: ['a@a@example.net'] },
  { name: '@otherdomain with extension', entries: 'inline:{ {@example.com=@example.net} }', address: 'joe+x@example.com', propagate: true, delim: '+', want: ['joe+x@example.net'] },
  { name: 'dot delimiter', entries: 'inline:{ aa@example.com=bb@example.com }', address: 'aa.ext@example.com', propagate: true, delim: '.', want: ['bb.ext@example.com'] },
];

for (const c of MAP) {
  test(`mailAddrMap: ${c.name}`, async () => {
    const tables = createTableRegistry().openList(c.entries);
    assert.deepEqual(await mailAddrMap(tables, c.address, { propagate: c.propagate, recipientDelimiter: c.delim }), c.want);
  });
}

const QUOTE: [string, string][] = [
  ['user@example.com', 'user@example.com'],
  ['a b@example.com', '"a b"@example.com'],
  ['a"b@x', '"a\\"b"@x'],
  ['.dot@x', '".dot"@x'],
  ['a..b@x', '"a..b"@x'],
  ['a@b@x', '"a@b"@x'],
  ['@r1,@r2:a b@x', '@r1,@r2:"a b"@x'],
  ['', '""'],
];
for (const [internal, external] of QUOTE) {
  test(`quote/unquote ${JSON.stringify(internal)}`, () => {
    assert.equal(quoteLocalPart(internal), external);
    assert.equal(unquoteLocalPart(external), internal);
  });
}

test('splitAddress splits at the last @', () => {
  assert.deepEqual(splitAddress('a@b@c'), { local: 'a@b', domain: 'c' });
  assert.deepEqual(splitAddress('a'), { local: 'a', domain: undefined });
  assert.equal(quoteLocalPart('a b', { bareLocalpart: true }), '"a b"');
});
