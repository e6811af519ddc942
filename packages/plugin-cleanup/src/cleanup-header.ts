/**
 * cleanup(8) message headers (the address parts of Postfix's
 * cleanup_message.c): the address-list scanner used to rewrite the addresses
 * inside a header in place. The header table (header_opts.c) is shared from
 * @postern/address and re-exported here.
 */

export { contentType, headerInfo, headerName, type HeaderInfo } from '@postern/address';

/** The value of a logical header: text after the colon, unfolded and trimmed. */
export function headerValue(header: string): string {
  const colon = header.indexOf(':');
  return header
    .slice(colon + 1)
    .replace(/\r?\n[ \t]/g, ' ')
    .trim();
}

/** One address found in a header value: its position and text (external form). */
export interface AddressSpan {
  readonly start: number;
  readonly end: number;
  readonly text: string;
}

/**
 * Finds the addresses of an address-list header value: the text inside
 * `<...>`, or a whole list element (comments excepted) without angle
 * brackets. Group names ("undisclosed-recipients:;") are skipped.
 */
export function findAddresses(value: string): AddressSpan[] {
  const spans: AddressSpan[] = [];
  let elementStart = 0;
  let angleStart = -1;
  let hadAngle = false;
  let depth = 0; // comment nesting
  let quoted = false;
  let literal = false;
  const bare = (end: number) => {
    if (hadAngle) return;
    // The element without comments, trimmed; only when no comment is inside the address text.
    const text = value.slice(elementStart, end);
    const stripped = stripComments(text);
    const trimmed = stripped.trim();
    if (trimmed === '' || trimmed.includes(' ') && !trimmed.includes('"')) return;
    const offset = text.indexOf(trimmed);
    if (offset < 0) return;
    spans.push({ start: elementStart + offset, end: elementStart + offset + trimmed.length, text: trimmed });
  };
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (c === '\\') {
      i++;
      continue;
    }
    if (depth > 0) {
      if (c === '(') depth++;
      else if (c === ')') depth--;
      continue;
    }
    if (quoted) {
      if (c === '"') quoted = false;
      continue;
    }
    if (literal) {
      if (c === ']') literal = false;
      continue;
    }
    if (c === '(') depth = 1;
    else if (c === '"') quoted = true;
    else if (c === '[') literal = true;
    else if (c === '<') {
      angleStart = i + 1;
      hadAngle = true;
    } else if (c === '>' && angleStart >= 0) {
      const text = value.slice(angleStart, i).trim();
      if (text) spans.push({ start: value.indexOf(text, angleStart), end: value.indexOf(text, angleStart) + text.length, text });
      angleStart = -1;
    } else if (angleStart < 0 && (c === ',' || c === ';')) {
      bare(i);
      elementStart = i + 1;
      hadAngle = false;
    } else if (angleStart < 0 && c === ':') {
      // A group: what came before is its display name.
      elementStart = i + 1;
      hadAngle = false;
    }
  }
  if (angleStart < 0) bare(value.length);
  return spans;
}

function stripComments(text: string): string {
  let out = '';
  let depth = 0;
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\\' && i + 1 < text.length) {
      if (depth === 0) out += c + text[i + 1];
      i++;
      continue;
    }
    if (depth > 0) {
      if (c === '(') depth++;
      else if (c === ')') depth--;
      out += ' ';
      continue;
    }
    if (quoted) {
      if (c === '"') quoted = false;
      out += c;
      continue;
    }
    if (c === '"') quoted = true;
    if (c === '(') {
      depth = 1;
      out += ' ';
      continue;
    }
    out += c;
  }
  return out;
}

/** Replaces the address spans of `value` with `replacement(span)`; undefined when nothing changed. */
export async function rewriteAddresses(
  value: string,
  replacement: (text: string) => Promise<string>,
): Promise<string | undefined> {
  const spans = findAddresses(value);
  let out = '';
  let pos = 0;
  let changed = false;
  for (const span of spans) {
    const next = await replacement(span.text);
    out += value.slice(pos, span.start) + next;
    pos = span.end;
    if (next !== span.text) changed = true;
  }
  return changed ? out + value.slice(pos) : undefined;
}
