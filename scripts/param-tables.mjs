// Writes each plugin README's parameter table from the plugin's parameter schema
// (PluginDefinition.parameters in its compiled dist/src/index.js), between the markers
// below. `--check` changes nothing and exits 1 when a README and its schema disagree.
// Run by `npm run build` after the packages are compiled.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

export const BEGIN = '<!-- parameters: generated from the parameter schema by scripts/param-tables.mjs; edit the schema, not this table -->';
export const END = '<!-- parameters: end -->';

const cell = (text) => String(text).replace(/\|/g, '\\|').replace(/\s*\n\s*/g, ' ');

/** The marked block for a list of ParameterSpec. */
export function renderTable(parameters) {
  if (parameters.length === 0) return `${BEGIN}\nThis package declares no parameters of its own.\n${END}`;
  const rows = parameters.map(
    (p) => `| \`${p.name}\` | ${p.default === '' ? '(empty)' : `\`${cell(p.default)}\``} | ${p.type ?? 'string'} | ${cell(p.description ?? '')} |`,
  );
  return [BEGIN, '| parameter | default | type | meaning |', '|---|---|---|---|', ...rows, END].join('\n');
}

/**
 * The README text with its table replaced: between the markers when present; otherwise
 * the first table of its "## Parameters" section (kept, after the block, when the schema
 * is empty: it then lists parameters of core the package reads), or a new section at the end.
 */
export function updateReadme(text, parameters) {
  const block = renderTable(parameters);
  const b = text.indexOf(BEGIN);
  const e = text.indexOf(END);
  if (b >= 0 && e > b) return text.slice(0, b) + block + text.slice(e + END.length);
  const lines = text.split('\n');
  const h = lines.findIndex((l) => /^## Parameters\b/.test(l));
  if (h < 0) return `${text.replace(/\n*$/, '')}\n\n## Parameters\n\n${block}\n`;
  let end = lines.findIndex((l, i) => i > h && /^## /.test(l));
  if (end < 0) end = lines.length;
  const start = lines.findIndex((l, i) => i > h && i < end && l.startsWith('|'));
  if (start < 0) return [...lines.slice(0, h + 1), '', block, ...lines.slice(h + 1)].join('\n');
  let stop = start;
  while (stop < end && lines[stop].startsWith('|')) stop++;
  const keep = parameters.length === 0 ? ['', ...lines.slice(start, stop)] : [];
  return [...lines.slice(0, start), block, ...keep, ...lines.slice(stop)].join('\n');
}

/** Every plugin package under `root`/packages: its README path and its parameter schema. */
export async function plugins(root) {
  const out = [];
  for (const name of readdirSync(join(root, 'packages')).filter((n) => n.startsWith('plugin-')).sort()) {
    const entry = join(root, 'packages', name, 'dist', 'src', 'index.js');
    if (!existsSync(entry)) continue;
    const mod = await import(pathToFileURL(entry).href);
    const def = mod.plugin ?? mod.default;
    if (!def || typeof def !== 'object') throw new Error(`${name}: no plugin definition exported from dist/src/index.js`);
    out.push({ name, readme: join(root, 'packages', name, 'README.md'), parameters: def.parameters ?? [] });
  }
  return out;
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const check = process.argv.includes('--check');
  const root = join(import.meta.dirname, '..');
  let stale = 0;
  for (const p of await plugins(root)) {
    const text = readFileSync(p.readme, 'utf8');
    const want = updateReadme(text, p.parameters);
    if (want === text) continue;
    stale++;
    if (check) console.error(`${p.name}/README.md: its parameter table differs from the schema (run node scripts/param-tables.mjs)`);
    else writeFileSync(p.readme, want);
  }
  if (check && stale) process.exit(1);
  if (!check && stale) console.log(`param-tables: ${stale} README(s) updated`);
}
