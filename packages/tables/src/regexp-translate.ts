/**
 * Translation of POSIX (regexp_table(5)) and PCRE (pcre_table(5)) patterns
 * and flags into JavaScript RegExp objects.
 *
 * regexp: flags (each letter toggles):
 *   i  case-insensitive, default on      -> RegExp `i`
 *   x  extended syntax (ERE), default on -> off = POSIX basic syntax (BRE):
 *      \( \) \{ \} \| \+ \? are operators, ( ) { } | + ? are literals
 *   m  multi-line (REG_NEWLINE), default off -> RegExp `m` without `s`;
 *      when off, `.` matches newline (RegExp `s`) as POSIX requires
 *   Bracket expressions are translated: [[:alpha:]] etc., [=c=] and [.c.]
 *   (single characters), a leading `]`, and backslash (literal inside a
 *   POSIX bracket). GNU escapes \< \> \` \' \w \W \s \S \b \B are mapped.
 *
 * pcre: flags (each letter toggles):
 *   i (on) -> `i`; m -> `m`; s (on) -> `s`; x -> whitespace and #comments
 *   are removed from the pattern before compiling; A -> sticky `y` at
 *   offset 0; E -> `$` matches only at the very end (without E, `$` outside
 *   a class becomes (?=\n?(?![\s\S])) to match before a final newline, like
 *   PCRE); U -> quantifier greediness inverted; X -> a backslash before a
 *   letter with no meaning is an error.
 *
 * Differences from PCRE (also in packages/core/README-tables.md):
 *   - not available: possessive quantifiers (*+ ++ ?+ {n}+), atomic groups
 *     (?>...), recursion (?R) (?1) (?&name) (?P>name), conditionals (?(...)),
 *     branch reset (?|...), \G, \K, \X, \C, backtracking verbs (*VERB),
 *     inline option groups other than a leading (?flags) (e.g. (?i:...) and
 *     (?i) in mid-pattern), Unicode properties \p{..} \P{..}; these are
 *     reported as errors when the table is loaded (the rule is skipped);
 *   - translated: (?P<name>...) -> (?<name>...), (?P=name) -> \k<name>,
 *     \A \z \Z, \Q...\E, \h \H \R \e \a, \x{hhhh}, (?#comment), a leading
 *     (?imsxU) option setting;
 *   - JavaScript has no PCRE_EXTRA distinction other than X as described.
 * Differences from POSIX regcomp/regexec:
 *   - JavaScript alternation is leftmost-first, POSIX is leftmost-longest:
 *     /a|ab/ matches "a" of "ab"; $n captures can differ with alternation;
 *   - back-references \1..\9 work in both syntaxes;
 *   - with `m`, a negated bracket expression still matches a newline.
 */

export interface TranslatedRegExp {
  readonly re: RegExp;
  /** Number of capturing groups. */
  readonly groups: number;
}

const POSIX_CLASSES: Record<string, string> = {
  alnum: 'a-zA-Z0-9',
  alpha: 'a-zA-Z',
  blank: ' \\t',
  cntrl: '\\x00-\\x1f\\x7f',
  digit: '0-9',
  graph: '\\x21-\\x7e',
  lower: 'a-z',
  print: '\\x20-\\x7e',
  punct: '!-\\/:-@\\[-`{-~',
  space: ' \\t\\n\\v\\f\\r',
  upper: 'A-Z',
  xdigit: '0-9A-Fa-f',
  word: 'a-zA-Z0-9_',
};

function escapeLiteral(ch: string): string {
  return '\\^$.|?*+()[]{}/'.includes(ch) ? `\\${ch}` : ch;
}

function escapeClassChar(ch: string): string {
  return '\\]-^['.includes(ch) ? `\\${ch}` : ch;
}

/**
 * Translates a POSIX bracket expression starting at src[start] === '['.
 * Returns the JS class and the index after the closing ']'.
 */
function posixBracket(src: string, start: number, newlineSensitive: boolean): { out: string; end: number } {
  let i = start + 1;
  let negate = false;
  if (src[i] === '^') {
    negate = true;
    i++;
  }
  let body = '';
  let first = true;
  for (;;) {
    if (i >= src.length) throw new Error('Unmatched [ or [^');
    const ch = src[i]!;
    if (ch === ']' && !first) {
      i++;
      break;
    }
    first = false;
    if (ch === '[' && (src[i + 1] === ':' || src[i + 1] === '=' || src[i + 1] === '.')) {
      const kind = src[i + 1]!;
      const close = src.indexOf(`${kind}]`, i + 2);
      if (close < 0) throw new Error('Unmatched [ or [^');
      const name = src.slice(i + 2, close);
      if (kind === ':') {
        const cls = POSIX_CLASSES[name];
        if (cls === undefined) throw new Error('Invalid character class name');
        body += cls;
      } else {
        if ([...name].length !== 1) throw new Error('Invalid collation character');
        body += escapeClassChar(name);
      }
      i = close + 2;
      continue;
    }
    if (ch === '-' && src[i + 1] !== ']' && body !== '') {
      body += '-';
      i++;
      continue;
    }
    body += escapeClassChar(ch);
    i++;
  }
  if (negate && newlineSensitive) body += '\\n';
  return { out: `[${negate ? '^' : ''}${body}]`, end: i };
}

/** POSIX ERE/BRE -> JS source. */
export function posixToJs(src: string, extended: boolean, newlineSensitive: boolean): string {
  let out = '';
  let i = 0;
  const n = src.length;
  while (i < n) {
    const c = src[i]!;
    if (c === '\\') {
      if (i + 1 >= n) throw new Error('Trailing backslash');
      const d = src[i + 1]!;
      i += 2;
      if (!extended && '(){}|+?'.includes(d)) {
        out += d;
        continue;
      }
      switch (d) {
        case '<':
          out += '\\b(?=\\w)';
          break;
        case '>':
          out += '\\b(?<=\\w)';
          break;
        case '`':
          out += '(?<![\\s\\S])';
          break;
        case "'":
          out += '(?![\\s\\S])';
          break;
        case 'w':
        case 'W':
        case 's':
        case 'S':
        case 'b':
        case 'B':
          out += `\\${d}`;
          break;
        default:
          out += /[1-9]/.test(d) ? `\\${d}` : escapeLiteral(d);
      }
      continue;
    }
    if (c === '[') {
      const b = posixBracket(src, i, newlineSensitive);
      out += b.out;
      i = b.end;
      continue;
    }
    if (extended) {
      if ('()|*+?{}^$.'.includes(c)) out += c;
      else out += escapeLiteral(c);
    } else if (c === '*') {
      // A leading '*' (or one after '^' or '\(') is a literal in BRE.
      const prev = out.endsWith('(') || out === '^' || out === '' ? 'literal' : 'op';
      out += prev === 'literal' ? '\\*' : '*';
    } else if (c === '^') {
      out += i === 0 || out.endsWith('(') ? '^' : '\\^';
    } else if (c === '$') {
      out += i === n - 1 || src.startsWith('\\)', i + 1) ? '$' : '\\$';
    } else if (c === '.') {
      out += '.';
    } else {
      out += escapeLiteral(c);
    }
    i++;
  }
  return out;
}

function countGroups(re: RegExp): number {
  return new RegExp(`${re.source}|`, re.flags.replace('y', '')).exec('')!.length - 1;
}

/** Compiles a regexp_table(5) pattern with its flag letters. Throws Error on bad syntax or flags. */
export function compilePosix(pattern: string, flagLetters: string): TranslatedRegExp {
  let icase = true;
  let extended = true;
  let multiline = false;
  for (const f of flagLetters) {
    if (f === 'i') icase = !icase;
    else if (f === 'x') extended = !extended;
    else if (f === 'm') multiline = !multiline;
    else throw new FlagError(`unknown regexp option "${f}"`);
  }
  const src = posixToJs(pattern, extended, multiline);
  const flags = (icase ? 'i' : '') + (multiline ? 'm' : 's');
  const re = compileJs(src, flags);
  return { re, groups: countGroups(re) };
}

/** Raised for an unknown flag letter (Postfix skips the rule with this text). */
export class FlagError extends Error {}

function compileJs(src: string, flags: string): RegExp {
  try {
    return new RegExp(src, flags);
  } catch (err) {
    const msg = (err as Error).message.replace(/^Invalid regular expression: \/.*\/[a-z]*: /s, '');
    throw new Error(msg);
  }
}

const PCRE_UNSUPPORTED = 'unsupported PCRE construct';

/** PCRE source -> JS source, given the already-resolved options. */
function pcreToJs(
  src: string,
  opts: { extended: boolean; dollarEndOnly: boolean; multiline: boolean; ungreedy: boolean; extra: boolean },
): string {
  let out = '';
  let i = 0;
  const n = src.length;
  let inClass = false;
  const unsupported = (what: string): never => {
    throw new Error(`${PCRE_UNSUPPORTED} ${what} (not available in JavaScript regular expressions)`);
  };
  const afterQuantifier = (): void => {
    // Handles lazy/possessive suffixes and the U (ungreedy) inversion.
    const next = src[i];
    if (next === '+') unsupported('possessive quantifier');
    if (next === '?') {
      i++;
      if (!opts.ungreedy) out += '?';
    } else if (opts.ungreedy) {
      out += '?';
    }
  };
  while (i < n) {
    const c = src[i]!;
    if (opts.extended && !inClass) {
      if (/\s/.test(c)) {
        i++;
        continue;
      }
      if (c === '#') {
        while (i < n && src[i] !== '\n') i++;
        continue;
      }
    }
    if (c === '\\') {
      const d = src[i + 1];
      if (d === undefined) throw new Error('\\ at end of pattern');
      i += 2;
      switch (d) {
        case 'A':
          out += inClass ? 'A' : '(?<![\\s\\S])';
          break;
        case 'z':
          out += inClass ? 'z' : '(?![\\s\\S])';
          break;
        case 'Z':
          out += inClass ? 'Z' : '(?=\\n?(?![\\s\\S]))';
          break;
        case 'h':
          out += inClass ? ' \\t' : '[ \\t]';
          break;
        case 'H':
          if (inClass) unsupported('\\H in a character class');
          out += '[^ \\t]';
          break;
        case 'R':
          if (inClass) unsupported('\\R in a character class');
          out += '(?:\\r\\n|[\\n\\v\\f\\r\\x85\\u2028\\u2029])';
          break;
        case 'e':
          out += '\\x1b';
          break;
        case 'a':
          out += '\\x07';
          break;
        case 'Q': {
          const end = src.indexOf('\\E', i);
          const lit = src.slice(i, end < 0 ? n : end);
          out += [...lit].map((ch) => (inClass ? escapeClassChar(ch) : escapeLiteral(ch))).join('');
          i = end < 0 ? n : end + 2;
          break;
        }
        case 'E':
          break;
        case 'x':
          if (src[i] === '{') {
            const close = src.indexOf('}', i);
            const hex = close < 0 ? '' : src.slice(i + 1, close);
            if (!/^[0-9a-fA-F]{1,4}$/.test(hex)) unsupported(`\\x{${hex}}`);
            out += `\\u${hex.padStart(4, '0')}`;
            i = close + 1;
          } else {
            out += '\\x';
          }
          break;
        case 'G':
        case 'K':
        case 'X':
        case 'C':
        case 'p':
        case 'P':
        case 'g':
          unsupported(`\\${d}`);
          break;
        default:
          if (opts.extra && /[a-zA-Z]/.test(d) && !'dDwWsSbBnrtfvcuk0'.includes(d))
            throw new Error(`unrecognized character follows \\: \\${d}`);
          out += `\\${d}`;
      }
      continue;
    }
    if (inClass) {
      if (c === '[' && src[i + 1] === ':') {
        const close = src.indexOf(':]', i + 2);
        const name = close < 0 ? '' : src.slice(i + 2, close);
        const negated = name.startsWith('^');
        const cls = POSIX_CLASSES[negated ? name.slice(1) : name];
        if (cls === undefined || negated) unsupported(`[:${name}:]`);
        out += cls;
        i = close + 2;
        continue;
      }
      if (c === ']') inClass = false;
      out += c;
      i++;
      continue;
    }
    if (c === '[') {
      inClass = true;
      out += c;
      i++;
      if (src[i] === '^') {
        out += '^';
        i++;
      }
      if (src[i] === ']') {
        out += '\\]';
        i++;
      }
      continue;
    }
    if (c === '(') {
      if (src[i + 1] === '*') unsupported('(*VERB)');
      if (src[i + 1] !== '?') {
        out += '(';
        i++;
        continue;
      }
      const rest = src.slice(i + 2);
      if (rest.startsWith('#')) {
        const close = src.indexOf(')', i);
        i = close < 0 ? n : close + 1;
        continue;
      }
      if (rest.startsWith('P<')) {
        out += '(?<';
        i += 4;
        continue;
      }
      if (rest.startsWith('P=')) {
        const close = src.indexOf(')', i);
        out += `\\k<${src.slice(i + 4, close)}>`;
        i = close + 1;
        continue;
      }
      if (/^(?::|=|!|<=|<!|<[A-Za-z_])/.test(rest)) {
        out += '(?';
        i += 2;
        continue;
      }
      if (rest.startsWith('>')) unsupported('atomic group (?>...)');
      if (rest.startsWith('|')) unsupported('branch reset (?|...)');
      if (rest.startsWith('(')) unsupported('conditional (?(...)...)');
      if (/^(?:R|[+-]?\d|&|P>)/.test(rest)) unsupported('recursion');
      unsupported(`inline option setting (?${rest.split(')')[0]})`);
    }
    if (c === '*' || c === '+' || c === '?') {
      out += c;
      i++;
      afterQuantifier();
      continue;
    }
    if (c === '{') {
      const m = /^\{\d+(?:,\d*)?\}/.exec(src.slice(i));
      if (m) {
        out += m[0];
        i += m[0].length;
        afterQuantifier();
        continue;
      }
      out += '\\{';
      i++;
      continue;
    }
    if (c === '$') {
      out += opts.dollarEndOnly || opts.multiline ? '$' : '(?=\\n?(?![\\s\\S]))';
      i++;
      continue;
    }
    out += c === '/' ? '\\/' : c;
    i++;
  }
  return out;
}

/** Compiles a pcre_table(5) pattern with its flag letters. Throws Error on bad syntax or flags. */
export function compilePcre(pattern: string, flagLetters: string): TranslatedRegExp {
  const o = { icase: true, multiline: false, dotall: true, extended: false, anchored: false, dollarEndOnly: false, ungreedy: false, extra: false };
  const toggle = (f: string): void => {
    switch (f) {
      case 'i': o.icase = !o.icase; break;
      case 'm': o.multiline = !o.multiline; break;
      case 's': o.dotall = !o.dotall; break;
      case 'x': o.extended = !o.extended; break;
      case 'A': o.anchored = !o.anchored; break;
      case 'E': o.dollarEndOnly = !o.dollarEndOnly; break;
      case 'U': o.ungreedy = !o.ungreedy; break;
      case 'X': o.extra = !o.extra; break;
      default: throw new FlagError(`unknown PCRE option "${f}"`);
    }
  };
  for (const f of flagLetters) toggle(f);
  let body = pattern;
  // A leading (?imsxU) option setting applies to the whole pattern.
  const lead = /^\(\?([imsxU]+)\)/.exec(body);
  if (lead) {
    for (const f of lead[1]!) {
      // Inline options set (not toggle) in PCRE.
      if (f === 'i') o.icase = true;
      else if (f === 'm') o.multiline = true;
      else if (f === 's') o.dotall = true;
      else if (f === 'x') o.extended = true;
      else if (f === 'U') o.ungreedy = true;
    }
    body = body.slice(lead[0].length);
  }
  const src = pcreToJs(body, o);
  const flags = (o.icase ? 'i' : '') + (o.multiline ? 'm' : '') + (o.dotall ? 's' : '') + (o.anchored ? 'y' : '');
  const re = compileJs(src, flags);
  return { re, groups: countGroups(re) };
}
