/**
 * Editing main.cf and listing master.cf the way postconf(1) does.
 *
 * editMainCf (postconf -e / -X): every line is kept as written except the
 * logical lines of the parameters being changed. A changed parameter is
 * rewritten in place as `name = value` (each of its definitions, if several),
 * its continuation lines dropped; comment and blank lines inside it stay.
 * A removed parameter loses its line and continuation lines. A parameter that
 * is set but was not in the file is appended at the end, in the order given.
 *
 * formatMasterEntry (postconf -M): the eight fields at postconf's column
 * positions (at least one space apart), then the command arguments, with
 * `-o` options normalised to `-o name=value` or `-o {name=value with spaces}`.
 * With fold (postconf -Mf), each leading `-o` option goes on a line of its
 * own and other words wrap so that no line reaches 80 columns, indented by four spaces.
 */
import type { MasterEntry } from '../contracts/service.js';
import { posternError } from '../errors.js';
import { physicalLines, splitNameValue } from './maincf.js';
import { unbrace, type MasterCfEntry } from './mastercf.js';

export interface MainCfEdits {
  /** name -> new value (postconf -e). */
  readonly set?: Readonly<Record<string, string>>;
  /** names to delete (postconf -X). */
  readonly remove?: readonly string[];
}

export interface MainCfEditResult {
  readonly text: string;
  /** Postfix's warnings: `FILE: multiple entries for "name"`. */
  readonly warnings: readonly string[];
}

const NAME = /^[A-Za-z0-9_.-]+$/;

/** Applies postconf -e / -X edits, returning the new text and Postfix's warnings. */
export function editMainCfDetailed(text: string, edits: MainCfEdits, file = 'main.cf'): MainCfEditResult {
  const set = new Map(Object.entries(edits.set ?? {}));
  const remove = new Set(edits.remove ?? []);
  for (const [name, value] of set) {
    if (!NAME.test(name)) throw posternError('POSTERN_ERR_USAGE', `bad parameter name: "${name}"`);
    if (/[\r\n]/.test(value)) throw posternError('POSTERN_ERR_USAGE', `parameter ${name}: value must be one line`);
  }
  const lines = physicalLines(text);
  const out: string[] = [];
  const found = new Map<string, number>();
  const blank = (s: string) => s.trim() === '';
  const comment = (s: string) => s.trimStart().startsWith('#');
  const led = (s: string) => s[0] === ' ' || s[0] === '\t';

  let dropping = false;
  for (const line of lines) {
    if (blank(line) || comment(line)) {
      out.push(line);
      continue;
    }
    if (led(line)) {
      if (!dropping) out.push(line);
      continue;
    }
    dropping = false;
    const kv = splitNameValue(line);
    if ('error' in kv || (!set.has(kv.name) && !remove.has(kv.name))) {
      out.push(line);
      continue;
    }
    found.set(kv.name, (found.get(kv.name) ?? 0) + 1);
    dropping = true;
    if (remove.has(kv.name)) continue;
    out.push(`${kv.name} = ${set.get(kv.name) as string}`);
  }
  for (const [name, value] of set) {
    if (!found.has(name) && !remove.has(name)) out.push(`${name} = ${value}`);
  }
  const warnings = [...found].filter(([, n]) => n > 1).map(([name]) => `${file}: multiple entries for "${name}"`);
  return { text: out.length === 0 ? '' : `${out.join('\n')}\n`, warnings };
}

/** Applies postconf -e / -X edits to main.cf text (see the module header). */
export function editMainCf(text: string, edits: MainCfEdits): string {
  return editMainCfDetailed(text, edits).text;
}

/** postconf's preferred column of each of the eight master.cf fields. */
const COLUMN_GOALS = [0, 11, 17, 25, 33, 41, 49, 57];
const LINE_LIMIT = 80;
const INDENT = '    ';

/** The -o value as postconf prints it: `name=value`, braced when it holds white space. */
function normalizeOverride(word: string): string {
  const text = unbrace(word);
  const eq = text.indexOf('=');
  if (eq < 0) return text;
  const kv = `${text.slice(0, eq).trim()}=${text.slice(eq + 1).trim()}`;
  return /\s/.test(kv) ? `{${kv}}` : kv;
}

/** A word as postconf prints it: `{ a b }` -> `{a b}`, `{ x }` -> `x`. */
function normalizeWord(word: string): string {
  const inner = unbrace(word);
  return inner !== word && /\s/.test(inner) ? `{${inner}}` : inner;
}

function fieldsOf(entry: MasterEntry | MasterCfEntry): string[] {
  if ('fields' in entry && Array.isArray(entry.fields)) return [...entry.fields];
  const yn = (b: boolean) => (b ? 'y' : 'n');
  return [
    entry.name,
    entry.type,
    yn(entry.private),
    yn(entry.unprivileged),
    yn(entry.chroot),
    entry.wakeup === 0 ? '-' : `${entry.wakeup}${entry.wakeupIfUsed ? '?' : ''}`,
    String(entry.maxproc),
    entry.command,
  ];
}

function argvOf(entry: MasterEntry | MasterCfEntry): string[] {
  if ('argv' in entry && Array.isArray(entry.argv)) return [...entry.argv];
  const words: string[] = [...entry.flags];
  for (const [name, value] of Object.entries(entry.overrides)) words.push('-o', `{${name}=${value}}`);
  for (const a of entry.args) words.push(/\s/.test(a) ? `{${a}}` : a);
  return words;
}

/** Groups the argument words into printing units: "-o value" pairs and single words. */
function units(argv: readonly string[]): { text: string; option: boolean }[] {
  const out: { text: string; option: boolean }[] = [];
  let options = true;
  for (let i = 0; i < argv.length; i++) {
    const w = argv[i] as string;
    if (options && (!w.startsWith('-') || w === '--')) options = false;
    if (w === '-o' && i + 1 < argv.length) {
      const value = argv[++i] as string;
      out.push({ text: `-o ${options ? normalizeOverride(value) : normalizeWord(value)}`, option: options });
    } else if (options && w.startsWith('-o') && w.length > 2) {
      out.push({ text: `-o ${normalizeOverride(w.slice(2))}`, option: true });
    } else {
      out.push({ text: normalizeWord(w), option: false });
    }
  }
  return out;
}

/** One master.cf entry as postconf -M (or -Mf with fold) prints it, without a final newline. */
export function formatMasterEntry(entry: MasterEntry | MasterCfEntry, options: { fold?: boolean } = {}): string {
  let line = '';
  fieldsOf(entry).forEach((field, i) => {
    if (line.length > 0) line += ' ';
    const goal = COLUMN_GOALS[i] as number;
    if (goal > line.length) line += ' '.repeat(goal - line.length);
    line += field;
  });
  const lines: string[] = [];
  let breakNext = false;
  for (const unit of units(argvOf(entry))) {
    if (!options.fold) {
      line += ` ${unit.text}`;
      continue;
    }
    if (unit.option || breakNext || line.length + 1 + unit.text.length >= LINE_LIMIT) {
      lines.push(line);
      line = INDENT + unit.text;
    } else {
      line += ` ${unit.text}`;
    }
    breakNext = unit.option;
  }
  lines.push(line);
  return lines.join('\n');
}

/** A whole listing, as postconf -M prints it (one entry per line, or folded). */
export function formatMasterCf(entries: readonly (MasterEntry | MasterCfEntry)[], options: { fold?: boolean } = {}): string {
  return entries.map((e) => `${formatMasterEntry(e, options)}\n`).join('');
}
