import { test } from 'node:test';
import assert from 'node:assert/strict';
import { COMMAND_PACKAGES, CONTRACT_PACKAGES } from '@postern/core';
import { plugin } from '../src/index.js';

test('the plugin provides the bounce command and contract and uses cleanup', async () => {
  assert.equal(plugin.name, '@postern/plugin-bounce');
  assert.equal(COMMAND_PACKAGES.bounce, plugin.name);
  assert.equal(CONTRACT_PACKAGES.bounce, plugin.name);
  assert.deepEqual(plugin.provides, ['bounce']);
  assert.deepEqual(plugin.uses, ['cleanup']);
  const entry = await plugin.commands.bounce?.load();
  assert.equal(typeof entry?.main, 'function');
});
// the README's parameter table is generated from the schema and checked by test/e2e/readme-parameters.test.ts

