// Every plugin README's parameter table is the one scripts/param-tables.mjs renders
// from the plugin's parameter schema: a parameter added, removed or changed in a
// schema without `npm run build` (which rewrites the tables) fails here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ParameterSpec } from '@postern/core';

interface Tables {
  BEGIN: string;
  renderTable(parameters: readonly ParameterSpec[]): string;
  updateReadme(text: string, parameters: readonly ParameterSpec[]): string;
  plugins(root: string): Promise<{ name: string; readme: string; parameters: readonly ParameterSpec[] }[]>;
}

const root = join(import.meta.dirname, '..', '..', '..');
const tables = (await import(pathToFileURL(join(root, 'scripts', 'param-tables.mjs')).href)) as Tables;
const plugins = await tables.plugins(root);

test('every plugin README carries the parameter table of its schema', () => {
  assert.ok(plugins.length >= 20, `found ${plugins.length} plugins`);
  for (const p of plugins) {
    const text = readFileSync(p.readme, 'utf8');
    assert.ok(text.includes(tables.BEGIN), `${p.name}: no generated parameter table`);
    assert.equal(tables.updateReadme(text, p.parameters), text, `${p.name}/README.md disagrees with its parameter schema (npm run build rewrites it)`);
    for (const spec of p.parameters) assert.ok(text.includes(`| \`${spec.name}\` |`), `${p.name}: ${spec.name} missing from the README`);
  }
});

test('a schema change, or a README row edited by hand, is a disagreement', () => {
  const p = plugins.find((x) => x.parameters.length > 1)!;
  const text = readFileSync(p.readme, 'utf8');
  const [first, ...rest] = p.parameters;
  assert.notEqual(tables.updateReadme(text, [{ ...first!, default: `${first!.default}x` }, ...rest]), text, 'a changed default');
  assert.notEqual(tables.updateReadme(text, rest), text, 'a removed parameter');
  const row = text.split('\n').find((l) => l.startsWith(`| \`${first!.name}\` |`))!;
  const edited = text.replace(row, row.replace(/\| [^|]*\|$/, '| edited by hand |'));
  assert.notEqual(tables.updateReadme(edited, p.parameters), edited, 'a hand-edited row');
});
