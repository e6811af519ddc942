import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { COMMAND_PACKAGES, CONTRACT_PACKAGES } from '@postern/core';
import { plugin, BOUNCE_PARAMETERS } from '../src/index.js';

test('the plugin provides the bounce command and contract and uses cleanup', async () => {
  assert.equal(plugin.name, '@postern/plugin-bounce');
  assert.equal(COMMAND_PACKAGES.bounce, plugin.name);
  assert.equal(CONTRACT_PACKAGES.bounce, plugin.name);
  assert.deepEqual(plugin.provides, ['bounce']);
  assert.deepEqual(plugin.uses, ['cleanup']);
  const entry = await plugin.commands.bounce?.load();
  assert.equal(typeof entry?.main, 'function');
});

test('README parameter table lists every parameter with its Postfix default', async () => {
  const readme = await readFile(fileURLToPath(new URL('../../README.md', import.meta.url)), 'utf8');
  const rows = new Map<string, string>();
  for (const m of readme.matchAll(/^\| `([a-z0-9_]+)` \| (`([^`]*)`|\*\(empty\)\*) \|/gm)) rows.set(m[1] as string, m[3] ?? '');
  assert.deepEqual([...rows.keys()].sort(), BOUNCE_PARAMETERS.map((p) => p.name).sort());
  for (const p of BOUNCE_PARAMETERS) assert.equal(rows.get(p.name), p.default, p.name);
});
