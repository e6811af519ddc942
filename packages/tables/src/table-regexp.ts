/**
 * regexp: and pcre: tables (Postfix dict_regexp, dict_pcre).
 *
 * File format (regexp_table(5), pcre_table(5)):
 *   /pattern/flags result      when pattern matches, use result
 *   !/pattern/flags result     when pattern does not match, use result
 *   if /pattern/flags          match the lines up to the matching endif
 *   if !/pattern/flags         ... only when the pattern (does not) match
 *   endif                      if..endif can nest
 * The delimiter is any non-whitespace, non-alphanumeric character
 * (traditionally `/`); a backslash quotes the delimiter inside the pattern.
 * Results may use $1..$9 (any group number), ${n}, $(n), and $$ for a `$`.
 * A group that did not participate in the match expands to "".
 *
 * Patterns are applied to the whole lookup string, first match wins; keys
 * are not case-folded (case sensitivity is a pattern flag). Bad rules are
 * skipped with a warning, as Postfix does: the warning text is
 * `regexp map FILE, line N: ...` (`pcre map ...`).
 *
 * Flags and the differences from POSIX and PCRE are described in
 * regexp-translate.ts and packages/tables/README.md. Postern reloads
 * the file when its modification time, size or inode changes (Postfix
 * daemons restart instead).
 *
 * Inline form (Postfix 3.7): `regexp:{ {rule-1}, {rule-2}, ... }`, each
 * rule one line of the table, parsed as above (table-stream.ts).
 */
import type { Logger } from '@postern/core';
import type { LookupTable } from '@postern/core';
import { compilePcre, compilePosix, FlagError } from './regexp-translate.js';
import type { TranslatedRegExp } from './regexp-translate.js';
import { logicalLines, reportDiagnostic, tableDiagnostic } from './table-source.js';
import type { DiagnosticHandler } from './table-source.js';
import { openTableSource } from './table-stream.js';
import type { TableSource } from './table-stream.js';

type Piece = string | number;

export interface PatternRule {
  readonly kind: 'match' | 'if' | 'endif';
  readonly line: number;
  readonly re?: RegExp;
  readonly negate?: boolean;
  readonly result?: readonly Piece[];
  /** For 'if': index of the matching 'endif' (or the end of the rules). */
  end?: number;
}

export type PatternSyntax = 'regexp' | 'pcre';

/** Parses a result template; throws Error with Postfix's message on bad syntax. */
function parseTemplate(text: string, groups: number): Piece[] {
  const out: Piece[] = [];
  let lit = '';
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c !== '$') {
      lit += c;
      i++;
      continue;
    }
    const next = text[i + 1];
    if (next === '$') {
      lit += '$';
      i += 2;
      continue;
    }
    let name: string;
    if (next === '{' || next === '(') {
      const close = text.indexOf(next === '{' ? '}' : ')', i + 2);
      if (close < 0) throw new Error(`truncated macro reference: "${text.slice(i)}"`);
      name = text.slice(i + 2, close);
      i = close + 1;
    } else {
      const m = /^[A-Za-z0-9_]+/.exec(text.slice(i + 1));
      if (!m) throw new Error(`empty macro name: "${text}"`);
      name = m[0];
      i += 1 + name.length;
    }
    if (!/^\d+$/.test(name)) throw new Error(`non-numeric replacement index "${name}"`);
    const n = Number(name);
    if (n < 1 || n > groups) throw new Error(`out-of-range replacement index "${name}"`);
    if (lit) out.push(lit);
    lit = '';
    out.push(n);
  }
  if (lit) out.push(lit);
  return out;
}

/** Splits `[!]<d>pattern<d>flags` off the front of `text`. */
function splitPattern(text: string): { negate: boolean; pattern: string; flags: string; rest: string } | undefined {
  let i = 0;
  let negate = false;
  if (text[i] === '!') {
    negate = true;
    i++;
  }
  const delim = text[i];
  if (delim === undefined || /[\sA-Za-z0-9\\]/.test(delim)) return undefined;
  i++;
  let pattern = '';
  for (; i < text.length; i++) {
    const c = text[i]!;
    if (c === '\\' && text[i + 1] === delim) {
      pattern += delim === '/' ? '\\/' : delim;
      i++;
      continue;
    }
    if (c === '\\' && i + 1 < text.length) {
      pattern += c + text[i + 1]!;
      i++;
      continue;
    }
    if (c === delim) break;
    pattern += c;
  }
  if (i >= text.length) return undefined;
  i++;
  const m = /^\S*/.exec(text.slice(i))!;
  return { negate, pattern, flags: m[0], rest: text.slice(i + m[0].length).trim() };
}

/** Parses a regexp/pcre table file into rules; bad rules are reported and skipped. */
export function parsePatternTable(
  text: string,
  file: string,
  syntax: PatternSyntax,
  onDiagnostic?: DiagnosticHandler,
): PatternRule[] {
  const label = `${syntax} map ${file}`;
  const rules: PatternRule[] = [];
  const open: PatternRule[] = [];
  const warn = (line: number, msg: string, reject = true): void =>
    reportDiagnostic(tableDiagnostic(label, line, msg, reject), onDiagnostic);
  const compile = (pattern: string, flags: string): TranslatedRegExp =>
    syntax === 'pcre' ? compilePcre(pattern, flags) : compilePosix(pattern, flags);

  for (const { text: raw, line } of logicalLines(text)) {
    const stmt = raw.trim();
    if (/^endif(?![A-Za-z0-9_])/i.test(stmt)) {
      const begin = open.pop();
      if (!begin) {
        warn(line, 'ignoring ENDIF without matching IF');
        continue;
      }
      begin.end = rules.length;
      rules.push({ kind: 'endif', line });
      continue;
    }
    const isIf = /^if(?![A-Za-z0-9_])/i.test(stmt);
    const body = isIf ? stmt.slice(2).trimStart() : stmt;
    const parts = splitPattern(body);
    if (!parts) {
      warn(line, isIf ? 'no regexp after IF' : 'ignoring unrecognized request');
      continue;
    }
    let compiled: TranslatedRegExp;
    try {
      compiled = compile(parts.pattern, parts.flags);
    } catch (err) {
      const msg = (err as Error).message;
      warn(line, err instanceof FlagError ? `${msg}: skipping this rule` : msg);
      continue;
    }
    if (isIf) {
      if (parts.rest !== '') warn(line, `ignoring extra text after IF statement: "${parts.rest}"`, false);
      const rule: PatternRule = { kind: 'if', line, re: compiled.re, negate: parts.negate };
      rules.push(rule);
      open.push(rule);
      continue;
    }
    let resultText = parts.rest;
    if (resultText === '') {
      warn(line, 'no replacement text: using empty string', false);
      resultText = '';
    }
    let result: Piece[];
    try {
      result = parseTemplate(resultText, parts.negate ? 0 : compiled.groups);
    } catch (err) {
      const msg = (err as Error).message;
      if (parts.negate && /replacement index/.test(msg) && !/non-numeric/.test(msg)) {
        warn(line, '$number found in negative match replacement text: skipping this rule');
      } else {
        warn(line, msg, false);
        warn(line, 'bad replacement syntax: skipping this rule');
      }
      continue;
    }
    rules.push({ kind: 'match', line, re: compiled.re, negate: parts.negate, result });
  }
  for (const rule of open) {
    warn(rule.line, 'IF has no matching ENDIF', false);
    rule.end = rules.length;
  }
  return rules;
}

function exec(re: RegExp, key: string): RegExpExecArray | null {
  re.lastIndex = 0;
  return re.exec(key);
}

/** Evaluates parsed rules against `key`: the first matching rule's expanded result. */
export function evalPatternRules(rules: readonly PatternRule[], key: string): string | undefined {
  for (let i = 0; i < rules.length; i++) {
    const rule = rules[i]!;
    if (rule.kind === 'endif') continue;
    const m = exec(rule.re!, key);
    const hit = rule.negate ? m === null : m !== null;
    if (rule.kind === 'if') {
      if (!hit) i = rule.end!;
      continue;
    }
    if (!hit) continue;
    return rule.result!.map((p) => (typeof p === 'string' ? p : (m?.[p] ?? ''))).join('');
  }
  return undefined;
}

/** A regexp: or pcre: table over a file (reloaded when it changes) or inline rules (regexp:{ {rule}, ... }). */
export class PatternTable implements LookupTable {
  readonly pattern = true;
  private rules: PatternRule[] = [];
  private readonly source: TableSource;

  constructor(
    readonly type: PatternSyntax,
    readonly name: string,
    readonly spec: string,
    private readonly log?: Logger,
  ) {
    this.source = openTableSource(type, spec, name, (text) => {
      this.rules = parsePatternTable(text, name, type, (d) => this.log?.warn(d.text));
    });
  }

  async lookup(key: string): Promise<string | undefined> {
    await this.source.refresh();
    return evalPatternRules(this.rules, key);
  }
}
