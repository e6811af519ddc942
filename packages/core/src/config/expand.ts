/**
 * `$name` expansion of main.cf values, as Postfix's mac_expand(3) does it.
 *
 * Forms (postconf(5), "Parameter value syntax"):
 *   `$name`, `${name}`, `$(name)`   the value of name ("" when unknown)
 *   `${name?text}`                  text when name's value is non-empty, else ""
 *   `${name:text}`                  text when name's value is empty, else ""
 *   `${name?{text1}:{text2}}`       text1 or text2 (Postfix 3.0+); either half may be left out
 *   `${{text1} op {text2}?{t}:{f}}` relational test (Postfix 3.0+): op is one of
 *                                   == != (strings), < <= > >= (integers), or
 *                                   ==level !=level <level <=level >level >=level
 *                                   (compatibility levels, Postfix 3.6+)
 *   `$$`                            a literal `$`
 *
 * Expansion is recursive: a parameter value found through `$name` is expanded
 * in turn. A parameter that (indirectly) refers to itself is an error
 * (POSTERN_ERR_CONFIG_RECURSION). Extra per-call variables (local(8)'s $user,
 * $extension, ...) are data, not configuration: their values are inserted as
 * they are and never expanded again.
 *
 * The conditional forms test the *expanded* value of name, which is what a
 * running Postfix daemon sees (its parameters are evaluated when read); note
 * that `postconf -x` tests the unexpanded text instead.
 */
import { posternError } from '../errors.js';

/** Returns a parameter's unexpanded value, or undefined when it has none. */
export type ParameterLookup = (name: string) => string | undefined;

export interface ExpandOptions {
  /** Per-call variables; they win over parameters and are not expanded again. */
  readonly extra?: Readonly<Record<string, string>>;
  /** Expand the values of referenced parameters too (default true). */
  readonly recurse?: boolean;
  /** Called once per reference to a name that neither extra nor lookup knows. */
  readonly onUndefined?: (name: string) => void;
  /** The parameter being expanded (for error messages and recursion detection). */
  readonly name?: string;
}

const NAME_CHAR = /[A-Za-z0-9_]/;
const MAX_DEPTH = 100;

class Expander {
  private readonly stack: string[] = [];

  constructor(
    private readonly lookup: ParameterLookup,
    private readonly opts: ExpandOptions,
  ) {
    if (opts.name !== undefined) this.stack.push(opts.name);
  }

  private fail(text: string, why: string): never {
    throw posternError('POSTERN_ERR_CONFIG_EXPAND', this.stack[this.stack.length - 1] ?? '(text)', `${why}: "${text}"`);
  }

  /** The value of `name`: an extra variable as is, a parameter expanded (if recursing). */
  value(name: string): string {
    const extra = this.opts.extra;
    if (extra !== undefined && Object.prototype.hasOwnProperty.call(extra, name)) return extra[name] ?? '';
    const raw = this.lookup(name);
    if (raw === undefined) {
      this.opts.onUndefined?.(name);
      return '';
    }
    if (this.opts.recurse === false) return raw;
    if (this.stack.includes(name)) throw posternError('POSTERN_ERR_CONFIG_RECURSION', name);
    if (this.stack.length >= MAX_DEPTH) throw posternError('POSTERN_ERR_CONFIG_RECURSION', name);
    this.stack.push(name);
    try {
      return this.expand(raw);
    } finally {
      this.stack.pop();
    }
  }

  expand(text: string): string {
    let out = '';
    let i = 0;
    while (i < text.length) {
      const dollar = text.indexOf('$', i);
      if (dollar < 0) {
        out += text.slice(i);
        break;
      }
      out += text.slice(i, dollar);
      const c = text[dollar + 1];
      if (c === '$') {
        out += '$';
        i = dollar + 2;
      } else if (c === '{' || c === '(') {
        const close = c === '{' ? '}' : ')';
        const end = matching(text, dollar + 1, c, close);
        if (end < 0) this.fail(text, 'truncated macro reference');
        out += this.reference(text.slice(dollar + 2, end), text);
        i = end + 1;
      } else {
        let j = dollar + 1;
        while (j < text.length && NAME_CHAR.test(text[j] as string)) j++;
        if (j === dollar + 1) this.fail(text, 'empty macro name');
        out += this.value(text.slice(dollar + 1, j));
        i = j;
      }
    }
    return out;
  }

  /** The inside of `${...}` or `$(...)`. */
  private reference(inner: string, whole: string): string {
    const body = inner.trimStart();
    if (body.startsWith('{')) return this.relational(body, whole);
    let j = 0;
    while (j < inner.length && NAME_CHAR.test(inner[j] as string)) j++;
    const name = inner.slice(0, j);
    if (name === '') this.fail(whole, 'empty macro name');
    if (j === inner.length) return this.value(name);
    const op = inner[j];
    if (op !== '?' && op !== ':') this.fail(whole, `attribute name syntax error at "...${name}>>>${inner.slice(j)}"`);
    const rest = inner.slice(j + 1);
    const nonEmpty = this.value(name) !== '';
    const lead = rest.trimStart();
    if (!lead.startsWith('{')) {
      // ${name?text} / ${name:text}: the whole remainder is the text.
      return (op === '?') === nonEmpty ? this.expand(rest) : '';
    }
    // ${name?{text1}:{text2}}, ${name?{text1}}, ${name:{text2}}
    const first = this.group(lead, whole);
    let ifTrue: string | undefined;
    let ifFalse: string | undefined;
    if (op === '?') ifTrue = first.text;
    else ifFalse = first.text;
    let tail = first.rest.trimStart();
    if (tail.startsWith(':') && op === '?') {
      tail = tail.slice(1).trimStart();
      if (!tail.startsWith('{')) this.fail(whole, "expected '{' after ':'");
      const second = this.group(tail, whole);
      ifFalse = second.text;
      tail = second.rest.trim();
    }
    if (tail.trim() !== '') this.fail(whole, `unexpected text after '}': ${tail.trim()}`);
    const chosen = nonEmpty ? ifTrue : ifFalse;
    return chosen === undefined ? '' : this.expand(chosen);
  }

  /** Reads `{ text }` at the start of s: the trimmed text and what follows. */
  private group(s: string, whole: string): { text: string; rest: string } {
    const end = matching(s, 0, '{', '}');
    if (end < 0) this.fail(whole, "missing '}'");
    return { text: s.slice(1, end).trim(), rest: s.slice(end + 1) };
  }

  /** `{text1} op {text2} ? {t} : {f}` */
  private relational(body: string, whole: string): string {
    const left = this.group(body, whole);
    let rest = left.rest.trimStart();
    const m = /^(==|!=|<=|>=|<|>)(level)?/.exec(rest);
    if (!m) this.fail(whole, 'unknown relational operator');
    const op = m[1] as string;
    const level = m[2] !== undefined;
    rest = rest.slice(m[0].length).trimStart();
    if (!rest.startsWith('{')) this.fail(whole, `expected '{' after "${m[0]}"`);
    const right = this.group(rest, whole);
    rest = right.rest.trimStart();
    let ifTrue: string | undefined;
    let ifFalse: string | undefined;
    if (rest.startsWith('?')) {
      rest = rest.slice(1).trimStart();
      if (!rest.startsWith('{')) this.fail(whole, "expected '{' after '?'");
      const g = this.group(rest, whole);
      ifTrue = g.text;
      rest = g.rest.trimStart();
    }
    if (rest.startsWith(':')) {
      rest = rest.slice(1).trimStart();
      if (!rest.startsWith('{')) this.fail(whole, "expected '{' after ':'");
      const g = this.group(rest, whole);
      ifFalse = g.text;
      rest = g.rest.trimStart();
    }
    if (rest !== '') this.fail(whole, `unexpected text: ${rest}`);
    if (ifTrue === undefined && ifFalse === undefined) this.fail(whole, "expected '?' or ':' after operand");
    const a = this.expand(left.text);
    const b = this.expand(right.text);
    const result = level ? compareLevels(a, b, op, () => this.fail(whole, 'bad compatibility level')) : compare(a, b, op, () => this.fail(whole, 'non-numeric operand'));
    const chosen = result ? ifTrue : ifFalse;
    return chosen === undefined ? '' : this.expand(chosen);
  }
}

/** Index of the bracket closing the one at `open`, counting nesting; -1 if none. */
function matching(s: string, open: number, opener: string, closer: string): number {
  let depth = 0;
  for (let i = open; i < s.length; i++) {
    const c = s[i];
    if (c === opener) depth++;
    else if (c === closer && --depth === 0) return i;
  }
  return -1;
}

function relate(d: number, op: string): boolean {
  switch (op) {
    case '==': return d === 0;
    case '!=': return d !== 0;
    case '<': return d < 0;
    case '<=': return d <= 0;
    case '>': return d > 0;
    default: return d >= 0;
  }
}

function compare(a: string, b: string, op: string, bad: () => never): boolean {
  if (op === '==' || op === '!=') return relate(a === b ? 0 : 1, op);
  if (!/^-?\d+$/.test(a) || !/^-?\d+$/.test(b)) bad();
  return relate(Number(a) - Number(b), op);
}

/** Compares Postfix compatibility levels: "2", "3.6", "3.6.1"; "" counts as 0. */
function compareLevels(a: string, b: string, op: string, bad: () => never): boolean {
  const parse = (s: string): number[] => {
    const t = s.trim() === '' ? '0' : s.trim();
    if (!/^\d+(\.\d+){0,2}$/.test(t)) bad();
    return t.split('.').map(Number);
  };
  const x = parse(a);
  const y = parse(b);
  let d = 0;
  for (let k = 0; k < 3 && d === 0; k++) d = (x[k] ?? 0) - (y[k] ?? 0);
  return relate(d, op);
}

/** Expands `text` against the parameters that `lookup` returns (see the module header). */
export function expandText(text: string, lookup: ParameterLookup, options: ExpandOptions = {}): string {
  return new Expander(lookup, options).expand(text);
}

/** The names `text` refers to with `$name`, `${name...}` or `$(name...)` (used to find user-defined parameters). */
export function referencedNames(text: string): string[] {
  const names = new Set<string>();
  const re = /\$(?:([A-Za-z0-9_]+)|[{(]([A-Za-z0-9_]+))/g;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    if (text[m.index - 1] === '$' && dollarRunOdd(text, m.index)) continue;
    names.add((m[1] ?? m[2]) as string);
  }
  return [...names];
}

/** True when the `$` at index i is the second of a `$$` pair (a literal dollar). */
function dollarRunOdd(text: string, i: number): boolean {
  let n = 0;
  for (let k = i - 1; k >= 0 && text[k] === '$'; k--) n++;
  return n % 2 === 1;
}
