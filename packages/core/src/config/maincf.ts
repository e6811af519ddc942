/**
 * main.cf parsing (postconf(5) "Syntax"), keeping every line for editing.
 *
 * - `name = value`, white space around `=` optional and trimmed;
 * - lines whose first non-blank character is `#` are comments, empty and
 *   white-space-only lines are ignored; neither ends a logical line;
 * - a line that starts with white space continues the logical line before it;
 *   the pieces are joined with one space, as Postfix does;
 * - a logical line that starts with white space (nothing to continue) is
 *   ignored with Postfix's warning;
 * - a logical line that is not `name = value` is a syntax error naming file and
 *   line (POSTERN_ERR_CONFIG_SYNTAX);
 * - a later definition overrides an earlier one, with Postfix's warning.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { posternError } from '../errors.js';

/** One `name = value` logical line. */
export interface MainCfParam {
  readonly kind: 'param';
  readonly name: string;
  /** The value as written (continuations joined), not expanded. */
  readonly value: string;
  readonly file: string;
  /** First physical line (1-based). */
  readonly line: number;
  /** Last physical line of the logical line (continuations included). */
  readonly endLine: number;
}

export interface MainCfComment {
  readonly kind: 'comment';
  readonly text: string;
  readonly file: string;
  readonly line: number;
}

export interface MainCfBlank {
  readonly kind: 'blank';
  readonly text: string;
  readonly file: string;
  readonly line: number;
}

/** A white-space-led line with nothing before it to continue (ignored, as Postfix does). */
export interface MainCfOrphan {
  readonly kind: 'orphan';
  readonly text: string;
  readonly file: string;
  readonly line: number;
}

export type MainCfItem = MainCfParam | MainCfComment | MainCfBlank | MainCfOrphan;

export interface MainCf {
  readonly file: string;
  /** Every logical item in file order (a parameter's embedded comment lines follow it). */
  readonly items: readonly MainCfItem[];
  /** The `name = value` entries in file order, overridden ones included. */
  readonly entries: readonly MainCfParam[];
  /** The effective entry for each name (the last one). */
  readonly params: ReadonlyMap<string, MainCfParam>;
  /** Postfix-style warnings ("FILE, line N: overriding earlier entry: name=value"). */
  readonly warnings: readonly string[];
}

/** Splits text into physical lines (no trailing empty line for a final newline). */
export function physicalLines(text: string): string[] {
  if (text === '') return [];
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

const isBlank = (s: string): boolean => s.trim() === '';
const isComment = (s: string): boolean => s.trimStart().startsWith('#');
const startsWithSpace = (s: string): boolean => s.length > 0 && (s[0] === ' ' || s[0] === '\t');

/** Splits one logical `name = value` line; the error text is Postfix's. */
export function splitNameValue(text: string): { name: string; value: string } | { error: string } {
  const s = text.trimStart();
  const m = /^([^\s=]*)\s*(=?)/.exec(s) as RegExpExecArray;
  const name = m[1] as string;
  if (name === '') return { error: `missing attribute name: "${text}"` };
  if (m[2] !== '=') return { error: `missing '=' after attribute name: "${text}"` };
  return { name, value: s.slice(m[0].length).trim() };
}

/** Parses main.cf text (see the module header); `file` names the file in messages. */
export function parseMainCf(text: string, file = 'main.cf'): MainCf {
  const lines = physicalLines(text);
  const items: MainCfItem[] = [];
  const entries: MainCfParam[] = [];
  const params = new Map<string, MainCfParam>();
  const warnings: string[] = [];

  let i = 0;
  while (i < lines.length) {
    const raw = lines[i] as string;
    const lineNo = i + 1;
    if (isBlank(raw)) {
      items.push({ kind: 'blank', text: raw, file, line: lineNo });
      i++;
      continue;
    }
    if (isComment(raw)) {
      items.push({ kind: 'comment', text: raw, file, line: lineNo });
      i++;
      continue;
    }
    if (startsWithSpace(raw)) {
      items.push({ kind: 'orphan', text: raw, file, line: lineNo });
      warnings.push(`${file}: logical line must not start with whitespace: "${raw}"`);
      i++;
      continue;
    }
    // A logical line: this line plus white-space-led lines, skipping comments and blanks.
    const pieces = [raw.trim()];
    const embedded: MainCfItem[] = [];
    let end = i;
    let j = i + 1;
    while (j < lines.length) {
      const next = lines[j] as string;
      if (isBlank(next)) embedded.push({ kind: 'blank', text: next, file, line: j + 1 });
      else if (isComment(next)) embedded.push({ kind: 'comment', text: next, file, line: j + 1 });
      else if (startsWithSpace(next)) {
        pieces.push(next.trim());
        end = j;
      } else break;
      j++;
    }
    // Comments and blanks after the last continuation line belong after the entry.
    const inside = embedded.filter((e) => e.line <= end + 1);
    const logical = pieces.join(' ');
    const split = splitNameValue(logical);
    if ('error' in split) throw posternError('POSTERN_ERR_CONFIG_SYNTAX', file, lineNo, split.error);
    const entry: MainCfParam = { kind: 'param', name: split.name, value: split.value, file, line: lineNo, endLine: end + 1 };
    const earlier = params.get(entry.name);
    if (earlier !== undefined) {
      warnings.push(`${file}, line ${lineNo}: overriding earlier entry: ${earlier.name}=${earlier.value}`);
    }
    items.push(entry, ...inside);
    entries.push(entry);
    params.set(entry.name, entry);
    i = end + 1;
  }
  return { file, items, entries, params, warnings };
}

/** Reads and parses `<configDirectory>/main.cf` (POSTERN_ERR_CONFIG_READ when it cannot be read). */
export async function loadMainCf(configDirectory: string): Promise<MainCf> {
  const file = join(configDirectory, 'main.cf');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw posternError('POSTERN_ERR_CONFIG_READ', file, (err as Error).message, err);
  }
  return parseMainCf(text, file);
}
