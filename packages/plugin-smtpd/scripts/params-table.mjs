#!/usr/bin/env node
// Prints the README parameter table from the package's parameter declarations
// (dist/src/smtpd-params.js; run `npx tsc -b` first). With --write, replaces
// the table between the markers in README.md.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { SMTPD_PARAMETERS } = await import(join(root, 'dist/src/smtpd-params.js'));
const esc = (s) => String(s).replace(/\|/g, '\\|');
const rows = SMTPD_PARAMETERS.map((p) => `| \`${p.name}\` | ${p.default === '' ? '(empty)' : `\`${esc(p.default)}\``} | ${esc(p.description ?? '')} |`);
const table = ['| Parameter | Default | Meaning |', '|---|---|---|', ...rows].join('\n');
if (process.argv.includes('--write')) {
  const file = join(root, 'README.md');
  const text = readFileSync(file, 'utf8');
  const start = '<!-- params:start -->';
  const end = '<!-- params:end -->';
  const a = text.indexOf(start);
  const b = text.indexOf(end);
  if (a < 0 || b < 0) throw new Error('README.md has no parameter table markers');
  writeFileSync(file, `${text.slice(0, a + start.length)}\n${table}\n${text.slice(b)}`);
} else {
  process.stdout.write(`${table}\n`);
}
