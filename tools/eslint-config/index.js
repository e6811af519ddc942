// Postern's lint configuration: typescript-eslint's type-checked rules trimmed to what
// finds bugs here, plus the rules that hold the design brief (a plugin imports only
// @postern/core and libraries, never another plugin; no package reaches into another
// package's src/ or dist/; only core's runtime registers into tsyringe's root container).
import Module, { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

// typescript-eslint needs TypeScript's JavaScript API, which TypeScript 7 (the native
// compiler that builds Postern) no longer has: this package carries TypeScript 6 for it,
// and every require('typescript') made while linting resolves to that copy.
const require = createRequire(import.meta.url);
const typescript6 = require.resolve('typescript');
const resolveFilename = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  return resolveFilename.call(this, request === 'typescript' ? typescript6 : request, ...rest);
};
const { default: tseslint } = await import('typescript-eslint');

/** The directory of the package.json nearest above `file`. */
function packageRoot(file) {
  for (let dir = dirname(file); ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) return undefined;
  }
}

/** no-foreign-internals: an import of another package's src/ or dist/, by name or by a relative path. */
const noForeignInternals = {
  meta: {
    type: 'problem',
    messages: {
      named: "'{{source}}' reaches into a package's {{part}}/: import the package by its name and its exports.",
      relative: "'{{source}}' reaches into another package's files: import the package by its name.",
    },
    schema: [],
  },
  create(context) {
    const here = packageRoot(context.filename);
    function check(node) {
      const source = node.source?.value;
      if (typeof source !== 'string') return;
      const named = /^@postern\/[^/]+\/(src|dist)(\/|$)/.exec(source);
      if (named) {
        context.report({ node: node.source, messageId: 'named', data: { source, part: named[1] } });
        return;
      }
      if (!source.startsWith('.') || here === undefined) return;
      const target = resolve(dirname(context.filename), source);
      if (target !== here && !target.startsWith(here + '/')) {
        context.report({ node: node.source, messageId: 'relative', data: { source } });
      }
    }
    return {
      ImportDeclaration: check,
      ExportAllDeclaration: check,
      ExportNamedDeclaration: check,
      ImportExpression: check,
    };
  },
};

export const postern = { rules: { 'no-foreign-internals': noForeignInternals } };

/** Core's DI runtime: the only files that may register into tsyringe's root container. */
export const containerOwners = [
  'packages/core/src/master/runtime.ts',
  'packages/core/src/service/host.ts',
  'packages/core/src/contracts/token.ts',
];

const pluginImport = {
  group: ['@postern/plugin-*'],
  message: 'A package never imports a plugin (DESIGN.md): take the contract from @postern/core, or share the code through a library package.',
};
const rootContainer = {
  name: 'tsyringe',
  importNames: ['container'],
  message: "Only core's DI runtime registers into tsyringe's root container; take a child container (or the service's) instead.",
};

/**
 * The configuration for a repository root: `dir` is the root (import.meta.dirname of its
 * eslint.config.js).
 */
export function config(dir) {
  return tseslint.config(
    { ignores: ['**/dist/**', '**/node_modules/**', '**/*.js', '**/*.mjs', '**/*.cjs', '**/*.d.ts'] },
    {
      files: ['**/*.ts'],
      extends: [tseslint.configs.recommendedTypeChecked],
      languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: dir } },
      plugins: { postern },
      linterOptions: { reportUnusedDisableDirectives: 'error' },
      rules: {
        // the design's rules
        'postern/no-foreign-internals': 'error',
        // `import('x').T` in a type position stays allowed: it names a type of a module
        // that is loaded lazily at run time
        '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports', disallowTypeAnnotations: false }],
        '@typescript-eslint/no-floating-promises': [
          'error',
          // node:test's test() and describe() return promises the runner itself awaits
          // node:test's test() and describe() return promises the runner itself awaits;
          // lmdb's put() and remove() are called only inside a transaction callback,
          // whose own promise carries their outcome
          {
            allowForKnownSafeCalls: [
              { from: 'package', package: 'node:test', name: ['test', 'it', 'describe', 'suite'] },
              { from: 'package', package: 'lmdb', name: ['put', 'remove'] },
            ],
          },
        ],
        '@typescript-eslint/no-restricted-imports': ['error', { paths: [rootContainer], patterns: [pluginImport] }],
        // trimmed from the recommended set: these flag the deliberate shapes of a mail
        // system's code (untyped JSON and IPC payloads, callback APIs of node and
        // smtp-server, async handlers kept async for their interface) far more often than bugs
        '@typescript-eslint/no-unsafe-assignment': 'off',
        '@typescript-eslint/no-unsafe-member-access': 'off',
        '@typescript-eslint/no-unsafe-argument': 'off',
        '@typescript-eslint/no-unsafe-call': 'off',
        '@typescript-eslint/no-unsafe-return': 'off',
        '@typescript-eslint/require-await': 'off',
        '@typescript-eslint/restrict-template-expressions': 'off',
        '@typescript-eslint/no-redundant-type-constituents': 'off',
        // `list[0]!` is written as if noUncheckedIndexedAccess were on, which the code is
        // ready for; this rule would strip every such assertion while it is off
        '@typescript-eslint/no-unnecessary-type-assertion': 'off',
        // smtpd's restriction checks throw their Reject verdict (not an Error) to unwind;
        // an AbortSignal's reason and a template's arguments are whatever the caller gave
        '@typescript-eslint/only-throw-error': 'off',
        '@typescript-eslint/prefer-promise-reject-errors': 'off',
        '@typescript-eslint/no-base-to-string': 'off',
        // false positives on functions taken from dynamically imported modules and on
        // the IPC layer's generic method signatures; an async generator needs `self`
        '@typescript-eslint/unbound-method': 'off',
        '@typescript-eslint/no-explicit-any': 'off',
        '@typescript-eslint/no-this-alias': 'off',
        // Promise.all over a mix of values and promises is used deliberately
        '@typescript-eslint/await-thenable': 'off',
        // a `let` assigned once later, and read by a closure made before, stays a `let`
        'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
        '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      },
    },
    {
      // the applications compose plugins; the end-to-end tests start them
      files: ['apps/**/*.ts', 'test/**/*.ts'],
      rules: { '@typescript-eslint/no-restricted-imports': ['error', { paths: [rootContainer] }] },
    },
    {
      // a test stands in for the runtime that starts a service; the brief's rule is
      // about library and plugin code
      files: ['**/test/**/*.ts'],
      rules: { '@typescript-eslint/no-restricted-imports': ['error', { patterns: [pluginImport] }] },
    },
    { files: ['test/**/*.ts'], rules: { '@typescript-eslint/no-restricted-imports': 'off' } },
    { files: containerOwners, rules: { '@typescript-eslint/no-restricted-imports': ['error', { patterns: [pluginImport] }] } },
  );
}
