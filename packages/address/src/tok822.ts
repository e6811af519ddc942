/**
 * A small RFC 822 address tokenizer (the part of Postfix's tok822_scan,
 * tok822_internalize and tok822_externalize that postalias(1) and
 * address-list parsing need).
 *
 * Tokens: atoms, quoted strings, comments (nested), domain literals and the
 * specials `<>@,;:.` (plus stray `)` / `]`). Backslash quotes the next
 * character in atoms, quoted strings, comments and domain literals.
 */

export type Tok822Type = 'atom' | 'qstring' | 'comment' | 'domlit' | 'special';

export interface Tok822 {
  readonly type: Tok822Type;
  /** Source text without the delimiters (quotes, parentheses, brackets). */
  readonly raw: string;
}

const SPECIAL_CHARS = '<>@,;:.)]';

function isSpace(ch: string): boolean {
  return ch === ' ' || ch === '\t' || ch === '\n' || ch === '\r' || ch === '\f' || ch === '\v';
}

/** Tokenizes `text`; unterminated quoted strings etc. run to the end of the text. */
export function tok822Scan(text: string): Tok822[] {
  const out: Tok822[] = [];
  let i = 0;
  const n = text.length;
  const readDelimited = (close: string, nest?: string): string => {
    let depth = 1;
    let raw = '';
    while (i < n) {
      const ch = text[i++]!;
      if (ch === '\\' && i < n) {
        raw += ch + text[i++]!;
        continue;
      }
      if (nest !== undefined && ch === nest) depth++;
      else if (ch === close && --depth === 0) return raw;
      raw += ch;
    }
    return raw;
  };
  while (i < n) {
    const ch = text[i]!;
    if (isSpace(ch)) {
      i++;
    } else if (ch === '(') {
      i++;
      out.push({ type: 'comment', raw: readDelimited(')', '(') });
    } else if (ch === '"') {
      i++;
      out.push({ type: 'qstring', raw: readDelimited('"') });
    } else if (ch === '[') {
      i++;
      out.push({ type: 'domlit', raw: readDelimited(']') });
    } else if (SPECIAL_CHARS.includes(ch)) {
      i++;
      out.push({ type: 'special', raw: ch });
    } else {
      let raw = '';
      while (i < n) {
        const c = text[i]!;
        if (isSpace(c) || SPECIAL_CHARS.includes(c) || c === '(' || c === '"' || c === '[') break;
        if (c === '\\' && i + 1 < n) {
          raw += c + text[i + 1]!;
          i += 2;
          continue;
        }
        raw += c;
        i++;
      }
      out.push({ type: 'atom', raw });
    }
  }
  return out;
}

function unescape(raw: string): string {
  return raw.replace(/\\(.)/gs, '$1');
}

function isWord(t: Tok822): boolean {
  return t.type !== 'special';
}

/** Token text in external (quoted) form, as Postfix's tok822_externalize writes it. */
export function tok822Externalize(tokens: readonly Tok822[]): string {
  let out = '';
  for (let k = 0; k < tokens.length; k++) {
    const t = tokens[k]!;
    const prev = tokens[k - 1];
    if (prev && ((isWord(prev) && isWord(t)) || (prev.type === 'special' && prev.raw === ','))) out += ' ';
    switch (t.type) {
      case 'qstring':
        out += `"${t.raw}"`;
        break;
      case 'comment':
        out += `(${t.raw})`;
        break;
      case 'domlit':
        out += `[${t.raw}]`;
        break;
      default:
        out += t.raw;
    }
  }
  return out;
}

/** Token text in internal (unquoted) form: quotes and backslashes removed, comments dropped. */
export function tok822Internalize(tokens: readonly Tok822[]): string {
  let out = '';
  let prevWord = false;
  for (const t of tokens) {
    if (t.type === 'comment') continue;
    if (prevWord && isWord(t)) out += ' ';
    if (t.type === 'domlit') out += `[${t.raw}]`;
    else if (t.type === 'special') out += t.raw;
    else out += unescape(t.raw);
    prevWord = isWord(t);
  }
  return out;
}

/**
 * Splits an address list ("a@x, b@y c@z") into addresses in external form,
 * at commas and between adjacent addresses (Postfix mail_addr_crunch's
 * tokenization, without the canonicalization that needs trivial-rewrite).
 * Comments are dropped; `<addr>` yields addr.
 */
export function tok822SplitList(text: string): string[] {
  const tokens = tok822Scan(text).filter((t) => t.type !== 'comment');
  const groups: Tok822[][] = [];
  let current: Tok822[] = [];
  const flush = (): void => {
    if (current.length > 0) groups.push(current);
    current = [];
  };
  for (let k = 0; k < tokens.length; k++) {
    const t = tokens[k]!;
    if (t.type === 'special' && t.raw === ',') {
      flush();
      continue;
    }
    const prev = current[current.length - 1];
    if (prev && isWord(prev) && isWord(t)) flush();
    current.push(t);
  }
  flush();
  return groups.map((g) => {
    const lt = g.findIndex((t) => t.type === 'special' && t.raw === '<');
    if (lt >= 0) {
      const gt = g.findIndex((t, idx) => idx > lt && t.type === 'special' && t.raw === '>');
      return tok822Externalize(g.slice(lt + 1, gt < 0 ? undefined : gt));
    }
    return tok822Externalize(g);
  });
}
