/**
 * Brace-group parsing shared by the tables whose name carries their
 * contents (Postfix balpar, extpar and mystrtokq with "{}"):
 *
 *   inline:{ key=value, { key = text with spaces } }     (table-simple.ts)
 *   static:{ text with spaces }                          (table-simple.ts)
 *   regexp:{ {rule-1}, {rule-2} }, pcre:, cidr:          (table-stream.ts)
 *
 * Splitting at commas and whitespace outside braces is core's splitList,
 * the same function that splits parameter values into list items.
 */
import { splitList } from '@postern/core';

/** Splits `text` at commas/whitespace outside `{}` (Postfix mystrtokq with "{}"). */
export function splitOutsideBraces(text: string): string[] {
  return splitList(text);
}

/**
 * Length of the balanced `{...}` group at the start of `text`, including
 * both braces; 0 when `text` does not start with `{` or the group is not
 * closed (Postfix balpar).
 */
export function balancedLength(text: string): number {
  if (!text.startsWith('{')) return 0;
  let level = 1;
  for (let i = 1; i < text.length; i++) {
    const ch = text[i];
    if (ch === '}') {
      if (--level === 0) return i + 1;
    } else if (ch === '{') {
      level++;
    }
  }
  return 0;
}

/**
 * Removes the outer `{}` from `text`, which must be one balanced group and
 * nothing after it, and trims the whitespace inside (Postfix extpar with
 * EXTPAR_FLAG_STRIP). Throws an Error with Postfix's message otherwise:
 * `no '{' at start of text in "..."`, `missing '}' in "..."`,
 * `syntax error after '}' in "..."`.
 */
export function extractBraced(text: string): string {
  if (!text.startsWith('{')) throw new Error(`no '{' at start of text in "${text}"`);
  const len = balancedLength(text);
  if (len === 0) throw new Error(`missing '}' in "${text}"`);
  if (len !== text.length) throw new Error(`syntax error after '}' in "${text}"`);
  return text.slice(1, len - 1).trim();
}
