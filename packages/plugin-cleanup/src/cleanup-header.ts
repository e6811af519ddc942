/**
 * cleanup(8) message headers (Postfix's header_opts.c and the address parts
 * of cleanup_message.c): which headers carry sender or recipient addresses,
 * which are Resent- or MIME headers, and the address-list scanner used to
 * rewrite the addresses inside a header in place.
 */

/** HDR_OPT_* flags of Postfix's header table. */
export interface HeaderInfo {
  /** Canonical name as Postfix spells it. */
  readonly name: string;
  readonly sender?: boolean;
  readonly recipient?: boolean;
  /** Recipients for sendmail -t. */
  readonly extract?: boolean;
  /** A Resent- header. */
  readonly resent?: boolean;
  /** A MIME header (Content-*, MIME-Version). */
  readonly mime?: boolean;
}

const TABLE: readonly HeaderInfo[] = [
  { name: 'Apparently-To', recipient: true },
  { name: 'Bcc', recipient: true, extract: true },
  { name: 'Cc', recipient: true, extract: true },
  { name: 'Content-Description', mime: true },
  { name: 'Content-Disposition', mime: true },
  { name: 'Content-ID', mime: true },
  { name: 'Content-Length' },
  { name: 'Content-Transfer-Encoding', mime: true },
  { name: 'Content-Type', mime: true },
  { name: 'Date' },
  { name: 'Delivered-To' },
  { name: 'Errors-To', sender: true },
  { name: 'From', sender: true },
  { name: 'Message-Id' },
  { name: 'Mime-Version', mime: true },
  { name: 'Received' },
  { name: 'Reply-To', recipient: true },
  { name: 'Resent-Bcc', recipient: true, extract: true, resent: true },
  { name: 'Resent-Cc', recipient: true, extract: true, resent: true },
  { name: 'Resent-Date', resent: true },
  { name: 'Resent-From', sender: true, resent: true },
  { name: 'Resent-Message-Id', resent: true },
  { name: 'Resent-Reply-To', recipient: true, resent: true },
  { name: 'Resent-Sender', sender: true, resent: true },
  { name: 'Resent-To', recipient: true, extract: true, resent: true },
  { name: 'Return-Path', sender: true },
  { name: 'Return-Receipt-To', sender: true },
  { name: 'Sender', sender: true },
  { name: 'To', recipient: true, extract: true },
];

const BY_NAME = new Map(TABLE.map((h) => [h.name.toLowerCase(), h]));

/** The header name of a logical header line, or undefined if it is not a header ("Name: value"). */
export function headerName(line: string): string | undefined {
  const m = /^([!-9;-~]+)[ \t]*:/.exec(line);
  return m ? m[1] : undefined;
}

/** Header table entry (by case-insensitive name). Any Content-* header counts as MIME. */
export function headerInfo(name: string): HeaderInfo | undefined {
  const lower = name.toLowerCase();
  const known = BY_NAME.get(lower);
  if (known) return known;
  if (lower.startsWith('content-')) return { name, mime: true };
  return undefined;
}

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

/** The boundary parameter of a Content-Type value, and whether it is multipart or message/rfc822. */
export function contentType(value: string): { type: string; boundary?: string } {
  const type = (/^\s*([^;\s]+)/.exec(value)?.[1] ?? 'text/plain').toLowerCase();
  const b = /;\s*boundary\s*=\s*(?:"([^"]*)"|([^;\s]+))/i.exec(value);
  return { type, boundary: b ? (b[1] ?? b[2]) : undefined };
}
