import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createTableRegistry } from '@postern/tables';
import { rewriteAddress, TrivialRewrite, type RewriteRules } from '../src/index.js';
import { makeConfig, MemoryLog, tempDir } from './helpers.js';

const LOCAL: RewriteRules = {
  swapBangpath: true,
  percentHack: true,
  appendAtOrigin: true,
  appendDotDomain: true,
  origin: 'mail.example.com',
  domain: 'example.com',
};

// PTEST_CASE style: rules, input, expected output.
const CASES: readonly [string, Partial<RewriteRules>, string, string][] = [
  ['bare user gets @myorigin', {}, 'user', 'user@mail.example.com'],
  ['complete address unchanged', {}, 'user@example.org', 'user@example.org'],
  ['host without dot gets .mydomain', {}, 'user@host', 'user@host.example.com'],
  ['no .mydomain when append_dot_mydomain=no', { appendDotDomain: false }, 'user@host', 'user@host'],
  ['no @myorigin when append_at_myorigin=no', { appendAtOrigin: false }, 'user', 'user'],
  ['source route stripped', {}, '@a.example,@b.example:user@c.example', 'user@c.example'],
  ['bang path swapped', {}, 'host.example!user', 'user@host.example'],
  ['bang path kept when swap_bangpath=no', { swapBangpath: false }, 'host!user', 'host!user@mail.example.com'],
  ['two-hop bang path swaps the first hop', {}, 'a.example!b!user', 'b!user@a.example'],
  ['percent hack', {}, 'user%remote.example', 'user@remote.example'],
  ['percent kept when allow_percent_hack=no', { percentHack: false }, 'user%remote', 'user%remote@mail.example.com'],
  ['last percent wins', {}, 'u%a%b.example', 'u%a@b.example'],
  ['trailing dot stripped', {}, 'user@example.org.', 'user@example.org'],
  ['domain literal left alone', {}, 'user@[192.0.2.1]', 'user@[192.0.2.1]'],
  ['null address stays null', {}, '', ''],
  ['lone @ is the null address', {}, '@', ''],
  ['quoted local part with @', {}, '"a@b"@example.org', '"a@b"@example.org'],
  ['quoted local part gets @myorigin', {}, '"john doe"', '"john doe"@mail.example.com'],
  ['remote context without domain: nothing appended', { origin: '', domain: '' }, 'user', 'user'],
  ['remote context without domain: host kept', { origin: '', domain: '' }, 'user@host', 'user@host'],
  ['remote context with domain', { origin: 'remote.example', domain: 'remote.example' }, 'user', 'user@remote.example'],
];

for (const [name, rules, input, want] of CASES) {
  test(`rewrite: ${name}`, () => {
    assert.equal(rewriteAddress(input, { ...LOCAL, ...rules }), want);
  });
}

test('rewrite contexts come from main.cf (local vs remote_header_rewrite_domain)', async () => {
  const t = tempDir();
  try {
    const log = new MemoryLog();
    const plain = new TrivialRewrite(makeConfig(t.dir, { append_dot_mydomain: 'yes' }), createTableRegistry(), log);
    assert.equal(await plain.rewrite('local', 'joe'), 'joe@mail.example.com');
    assert.equal(await plain.rewrite('local', 'joe@host'), 'joe@host.example.com');
    assert.equal(await plain.rewrite('remote', 'joe'), 'joe');
    assert.equal(await plain.rewrite('remote', 'joe@host'), 'joe@host');

    const remote = new TrivialRewrite(
      makeConfig(t.dir, { remote_header_rewrite_domain: 'invalid.example', myorigin: 'example.com', append_dot_mydomain: 'yes' }),
      createTableRegistry(),
      log,
    );
    assert.equal(await remote.rewrite('local', 'joe'), 'joe@example.com');
    assert.equal(await remote.rewrite('remote', 'joe'), 'joe@invalid.example');
    assert.equal(await remote.rewrite('remote', 'joe@host'), 'joe@host.invalid.example');
  } finally {
    t.remove();
  }
});

test('append_dot_mydomain follows compatibility_level when not set', async () => {
  const t = tempDir();
  try {
    const old = new TrivialRewrite(makeConfig(t.dir, { compatibility_level: '0' }), createTableRegistry(), new MemoryLog());
    assert.equal(await old.rewrite('local', 'joe@host'), 'joe@host.example.com');
    const now = new TrivialRewrite(makeConfig(t.dir, { compatibility_level: '3.6' }), createTableRegistry(), new MemoryLog());
    assert.equal(await now.rewrite('local', 'joe@host'), 'joe@host');
  } finally {
    t.remove();
  }
});
