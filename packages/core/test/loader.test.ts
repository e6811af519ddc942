/**
 * The plugin loader against plugin packages made on the fly: discovery by
 * name pattern, core version ranges, conflicts, missing providers and
 * dependencies, each a coded error naming the package.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CORE_VERSION, discoverPlugins, isPosternError, parseMasterCf, resolveServices } from '@postern/core';

interface Fixture {
  readonly name: string;
  readonly core?: string;
  readonly commands: string[];
  readonly provides?: string[];
  readonly uses?: string[];
  readonly declaredName?: string;
}

function makePlugins(fixtures: Fixture[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'postern-plugins-'));
  for (const f of fixtures) {
    const pkg = join(dir, ...f.name.split('/'));
    mkdirSync(pkg, { recursive: true });
    writeFileSync(join(pkg, 'package.json'), JSON.stringify({ name: f.name, version: '1.2.3', type: 'module', main: 'index.js' }));
    const commands = f.commands.map((c) => `${JSON.stringify(c)}: { description: 'test', load: async () => ({ main: async () => undefined }) }`).join(', ');
    writeFileSync(
      join(pkg, 'index.js'),
      `export const plugin = { name: ${JSON.stringify(f.declaredName ?? f.name)}, version: '1.2.3', core: ${JSON.stringify(f.core ?? '^0.1.0')}, commands: { ${commands} }, provides: ${JSON.stringify(f.provides ?? [])}, uses: ${JSON.stringify(f.uses ?? [])} };\n`,
    );
  }
  return dir;
}

test('third-party packages are found by name pattern and map master.cf commands to their provider', async () => {
  const dir = makePlugins([
    { name: 'postern-plugin-alpha', commands: ['alpha'], provides: ['alpha'] },
    { name: '@acme/postern-plugin-beta', commands: ['beta'], uses: ['alpha'] },
    { name: 'not-a-plugin', commands: ['gamma'] },
  ]);
  try {
    const set = await discoverPlugins([dir]);
    assert.equal(set.commands.get('alpha')?.name, 'postern-plugin-alpha');
    assert.equal(set.commands.get('beta')?.name, '@acme/postern-plugin-beta');
    assert.equal(set.commands.get('gamma'), undefined, 'names outside the patterns are not plugins');
    const entries = parseMasterCf('a unix - - n - - alpha\nb unix - - n - - beta\n#c unix - - n - - gamma\n');
    const providers = resolveServices(entries, set);
    assert.deepEqual([...providers.values()].map((p) => p.name), ['postern-plugin-alpha', '@acme/postern-plugin-beta']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('each failure is a coded error that says what to install or fix', async () => {
  const cases: { fixtures: Fixture[]; master: string; code: string; text: RegExp }[] = [
    {
      fixtures: [],
      master: 'spawn unix - - n - - spawn\n',
      code: 'POSTERN_ERR_PLUGIN_MISSING',
      text: /no installed package provides command "spawn".*npm install @postern\/plugin-spawn/,
    },
    {
      fixtures: [{ name: 'postern-plugin-old', core: '^9.0.0', commands: ['old'] }],
      master: 'old unix - - n - - old\n',
      code: 'POSTERN_ERR_PLUGIN_CORE_VERSION',
      text: new RegExp(`postern-plugin-old@1\\.2\\.3 needs @postern/core \\^9\\.0\\.0, but core is ${CORE_VERSION.replace(/\./g, '\\.')}`),
    },
    {
      fixtures: [{ name: 'postern-plugin-needy', commands: ['needy'], uses: ['nosuchcontract'] }],
      master: 'needy unix - - n - - needy\n',
      code: 'POSTERN_ERR_PLUGIN_DEPENDENCY',
      text: /postern-plugin-needy uses nosuchcontract, which no installed plugin provides.*a plugin providing "nosuchcontract"/,
    },
    {
      fixtures: [{ name: 'postern-plugin-liar', declaredName: 'someone-else', commands: ['liar'] }],
      master: 'liar unix - - n - - liar\n',
      code: 'POSTERN_ERR_PLUGIN_INVALID',
      text: /postern-plugin-liar is not a valid Postern plugin: it declares the name someone-else/,
    },
  ];
  for (const c of cases) {
    const dir = makePlugins(c.fixtures);
    try {
      const set = await discoverPlugins([dir]);
      assert.throws(
        () => resolveServices(parseMasterCf(c.master), set),
        (e: unknown) => isPosternError(e) && e.code === c.code && c.text.test(`${e.message} ${e.hint ?? ''}`),
        c.code,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
});

test('two packages that provide one command are a conflict', async () => {
  const dir = makePlugins([
    { name: 'postern-plugin-one', commands: ['same'] },
    { name: 'postern-plugin-two', commands: ['same'] },
  ]);
  try {
    await assert.rejects(discoverPlugins([dir]), (e) => isPosternError(e, 'POSTERN_ERR_PLUGIN_CONFLICT') && /command "same" is provided by both/.test(e.message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
