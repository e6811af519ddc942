import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isPosternError } from '../src/errors.js';
import { expandText, referencedNames } from '../src/config/index.js';

/** A small main.cf namespace. */
const PARAMS: Record<string, string> = {
  myhostname: 'host.example.com',
  mydomain: 'example.com',
  myorigin: '$myhostname',
  chain: '${myorigin}/$(mydomain)',
  empty_x: '',
  indirect_empty: '$empty_x',
  compatibility_level: '3.6',
  style: '${{$compatibility_level} <level {2} ? {subnet} : {host}}',
};
const lookup = (name: string) => PARAMS[name];

const CASES: readonly (readonly [string, string])[] = [
  ['plain text', 'plain text'],
  ['$myhostname', 'host.example.com'],
  ['${myhostname}', 'host.example.com'],
  ['$(myhostname)x', 'host.example.comx'],
  ['$myhostname.x', 'host.example.com.x'],
  ['$myhostname-x', 'host.example.com-x'],
  ['${myhostname}}', 'host.example.com}'],
  ['{$myhostname}', '{host.example.com}'],
  ['a$$b', 'a$b'],
  ['$myorigin', 'host.example.com'],
  ['$chain', 'host.example.com/example.com'],
  ['$nosuch', ''],
  ['x${nosuch}y', 'xy'],
  ['${myhostname?yes}', 'yes'],
  ['${empty_x?yes}', ''],
  ['${nosuch?yes}', ''],
  ['${myhostname:no}', ''],
  ['${empty_x:no}', 'no'],
  ['${indirect_empty:no}', 'no'],
  ['${myhostname?$mydomain}', 'example.com'],
  ['${myhostname?a:b}', 'a:b'],
  ['${myhostname?{ yes }:{ no }}', 'yes'],
  ['${nosuch?{yes}:{no}}', 'no'],
  ['${myhostname?{yes}}', 'yes'],
  ['${myhostname:{yes}}', ''],
  ['${nosuch:{yes}}', 'yes'],
  ['${myhostname?{a}:{$mydomain}}', 'a'],
  ['${empty_x?{a}:{$mydomain}}', 'example.com'],
  ['${{$myhostname} == {host.example.com}?{eq}:{ne}}', 'eq'],
  ['${{$myhostname} != {host.example.com}?{eq}:{ne}}', 'ne'],
  ['${{10} < {9}?{lt}:{ge}}', 'ge'],
  ['${{10} >= {9}?{ge}}', 'ge'],
  ['$style', 'host'],
  ['${{$compatibility_level} <level {3.10} ? {old} : {new}}', 'old'],
  ['${{3.6.1} >level {3.6} ? {newer}}', 'newer'],
  ['${{} ==level {0} ? {zero}}', 'zero'],
];

for (const [input, want] of CASES) {
  test(`expand ${JSON.stringify(input)}`, () => {
    assert.equal(expandText(input, lookup), want);
  });
}

const BAD: readonly (readonly [string, string])[] = [
  ['a$ b', 'empty macro name'],
  ['a$', 'empty macro name'],
  ['${myhostname', 'truncated macro reference'],
  ['${my-host}', 'attribute name syntax error'],
  ['${}', 'empty macro name'],
  ['${myhostname?{a}', 'truncated macro reference'],
  ['${{a} ~ {b}?{x}}', 'unknown relational operator'],
  ['${{a} < {b}?{x}}', 'non-numeric operand'],
];

for (const [input, why] of BAD) {
  test(`expand error ${JSON.stringify(input)}`, () => {
    assert.throws(
      () => expandText(input, lookup, { name: 'relayhost' }),
      (err: unknown) => isPosternError(err, 'POSTERN_ERR_CONFIG_EXPAND') && err.message.startsWith(`parameter relayhost: ${why}`),
    );
  });
}

test('recursion is detected, directly and indirectly', () => {
  const loop: Record<string, string> = { a: 'x $b', b: '${c?yes}', c: '$a', self: '$self' };
  for (const name of ['a', 'self']) {
    assert.throws(
      () => expandText(`$${name}`, (n) => loop[n]),
      (err: unknown) => isPosternError(err, 'POSTERN_ERR_CONFIG_RECURSION'),
    );
  }
  // Expanding a parameter's own value with its name on the stack: a reference to itself is recursion too.
  assert.throws(() => expandText('$self', (n) => loop[n], { name: 'self' }), (err: unknown) => isPosternError(err, 'POSTERN_ERR_CONFIG_RECURSION'));
  // The same name used twice side by side is not recursion.
  assert.equal(expandText('$myhostname $myhostname', lookup), 'host.example.com host.example.com');
});

test('extra per-call variables win and are not expanded again', () => {
  const extra = { user: 'alice', extension: '', home: '/home/$myhostname' };
  assert.equal(expandText('$home/${extension?+$extension}:$user', lookup, { extra }), '/home/$myhostname/:alice');
  assert.equal(expandText('${extension:none} ${user?{u=$user}}', lookup, { extra }), 'none u=alice');
  assert.equal(expandText('$myhostname', lookup, { extra: { myhostname: 'override' } }), 'override');
});

test('recurse: false inserts values as written', () => {
  assert.equal(expandText('$myorigin', lookup, { recurse: false }), '$myhostname');
});

test('onUndefined reports unknown names', () => {
  const seen: string[] = [];
  expandText('$nosuch ${other?x} $myhostname', lookup, { onUndefined: (n) => seen.push(n) });
  assert.deepEqual(seen, ['nosuch', 'other']);
});

test('referencedNames finds $name, ${name...} and $(name), not $$name', () => {
  assert.deepEqual(referencedNames('$a ${b?x} $(c) $$d ${{$e} == {1}?{$f}}').sort(), ['a', 'b', 'c', 'e', 'f']);
});
