/**
 * Table source file parsing shared by texthash:, postmap(1), postalias(1)
 * and the pattern tables (Postfix's readllines, the postmap input loop and
 * the postalias input loop).
 *
 * Logical lines: empty and whitespace-only lines are ignored, as are lines
 * whose first non-whitespace character is `#`; a line that starts with
 * whitespace continues the previous logical line (the newline is dropped,
 * the leading whitespace kept). There are no trailing comments.
 *
 * Problems are reported as diagnostics carrying `FILE, line N: text`. A
 * diagnostic with `error` (code POSTERN_ERR_TABLE_SYNTAX) means the line was
 * rejected; one without is a warning and the line was kept. Without an
 * `onDiagnostic` handler, a rejected line throws its error.
 */
import { posternError } from '@postern/core';
import type { PosternError } from '@postern/core';
import { tok822Externalize, tok822Internalize, tok822Scan } from '@postern/address';

export interface LogicalLine {
  readonly text: string;
  /** Number of the first physical line. */
  readonly line: number;
}

export interface TableDiagnostic {
  readonly file: string;
  readonly line: number;
  readonly message: string;
  /** `FILE, line N: message`. */
  readonly text: string;
  /** Set when the line was rejected (a syntax error). */
  readonly error?: PosternError;
}

export type DiagnosticHandler = (d: TableDiagnostic) => void;

/** Builds a diagnostic; `reject` makes it carry a POSTERN_ERR_TABLE_SYNTAX error. */
export function tableDiagnostic(file: string, line: number, message: string, reject: boolean): TableDiagnostic {
  const text = `${file}, line ${line}: ${message}`;
  return reject
    ? { file, line, message, text, error: posternError('POSTERN_ERR_TABLE_SYNTAX', file, line, message) }
    : { file, line, message, text };
}

/** Delivers `d` to the handler, or throws a rejected line's error when there is none. */
export function reportDiagnostic(d: TableDiagnostic, onDiagnostic?: DiagnosticHandler): void {
  if (onDiagnostic) onDiagnostic(d);
  else if (d.error) throw d.error;
}

const BLANK = /^\s*$/;
const COMMENT = /^\s*#/;

/** Splits `text` into logical lines (see the module header). */
export function logicalLines(text: string): LogicalLine[] {
  const out: { text: string; line: number }[] = [];
  const lines = text.split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  for (let i = 0; i < lines.length; i++) {
    let raw = lines[i]!;
    if (raw.endsWith('\r')) raw = raw.slice(0, -1);
    if (BLANK.test(raw) || COMMENT.test(raw)) continue;
    const current = out[out.length - 1];
    if (/^\s/.test(raw) && current) current.text += raw;
    else out.push({ text: raw, line: i + 1 });
  }
  return out;
}

export interface SourceEntry {
  readonly key: string;
  readonly value: string;
  readonly line: number;
}

/**
 * Parses postmap(1) input: `key whitespace value`. The key ends at the first
 * whitespace outside double quotes (backslash quotes the next character);
 * quotes stay part of the key, as in Postfix. `key: value` is accepted with
 * a warning ("is this an alias file?").
 */
export function parseMapSource(text: string, file: string, onDiagnostic?: DiagnosticHandler): SourceEntry[] {
  const out: SourceEntry[] = [];
  for (const { text: line, line: lineno } of logicalLines(text)) {
    let inQuotes = false;
    let i = 0;
    for (; i < line.length; i++) {
      const ch = line[i]!;
      if (ch === '\\') {
        i++;
      } else if (/\s/.test(ch)) {
        if (!inQuotes) break;
      } else if (ch === '"') {
        inQuotes = !inQuotes;
      }
    }
    if (inQuotes) {
      reportDiagnostic(tableDiagnostic(file, lineno, `unbalanced '"' in '${line}' -- ignoring this line`, true), onDiagnostic);
      continue;
    }
    const key = line.slice(0, Math.min(i, line.length));
    const value = line.slice(Math.min(i, line.length)).trim();
    if (key === '' || value === '') {
      reportDiagnostic(tableDiagnostic(file, lineno, 'expected format: key whitespace value', true), onDiagnostic);
      continue;
    }
    if (key.endsWith(':')) {
      reportDiagnostic(
        tableDiagnostic(file, lineno, 'record is in "key: value" format; is this an alias file?', false),
        onDiagnostic,
      );
    }
    out.push({ key, value, line: lineno });
  }
  return out;
}

/**
 * Parses aliases(5) input: `name: value, value, ...`. The name is converted
 * to internal (unquoted) form, the value to external form with normalized
 * spacing, as postalias(1) stores them. Lines without a `name:value` pair,
 * or whose name is not local (contains `@` or `%`), are rejected.
 */
export function parseAliasSource(text: string, file: string, onDiagnostic?: DiagnosticHandler): SourceEntry[] {
  const out: SourceEntry[] = [];
  for (const { text: line, line: lineno } of logicalLines(text)) {
    const tokens = tok822Scan(line);
    if (tokens.length === 0) continue;
    const colon = tokens.findIndex((t) => t.type === 'special' && t.raw === ':');
    const keyTokens = colon < 0 ? [] : tokens.slice(0, colon);
    const valueTokens = colon < 0 ? [] : tokens.slice(colon + 1);
    if (
      colon <= 0 ||
      valueTokens.length === 0 ||
      keyTokens.some((t) => t.type === 'special' && t.raw === ',')
    ) {
      reportDiagnostic(tableDiagnostic(file, lineno, 'need name:value pair', true), onDiagnostic);
      continue;
    }
    if (keyTokens.some((t) => t.type === 'special' && t.raw === '@') || keyTokens.some((t) => t.type === 'atom' && t.raw.includes('%'))) {
      reportDiagnostic(tableDiagnostic(file, lineno, 'name must be local', true), onDiagnostic);
      continue;
    }
    out.push({ key: tok822Internalize(keyTokens), value: tok822Externalize(valueTokens), line: lineno });
  }
  return out;
}

export type DuplicatePolicy = 'warn' | 'replace' | 'ignore';

/**
 * Collects entries into a Map, folding keys to lowercase when `fold`, and
 * resolving duplicate keys: 'warn' keeps the first and reports
 * `FILE, line N: duplicate entry: "key"` (postmap default), 'replace' keeps
 * the last (postmap -r), 'ignore' keeps the first silently (postmap -w).
 */
export function collectEntries(
  entries: Iterable<SourceEntry>,
  options: { fold: boolean; duplicates: DuplicatePolicy; file: string; onDiagnostic?: DiagnosticHandler },
): Map<string, string> {
  const map = new Map<string, string>();
  for (const e of entries) {
    const key = options.fold ? e.key.toLowerCase() : e.key;
    if (map.has(key)) {
      if (options.duplicates === 'replace') map.set(key, e.value);
      else if (options.duplicates === 'warn')
        reportDiagnostic(tableDiagnostic(options.file, e.line, `duplicate entry: "${key}"`, false), options.onDiagnostic);
      continue;
    }
    map.set(key, e.value);
  }
  return map;
}
