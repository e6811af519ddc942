/**
 * Small mail address helpers (Postfix's split_at_right, quote_822_local,
 * unquote_822_local, split_addr and strip_addr).
 *
 * Addresses come in two forms, as in Postfix:
 * - internal form: the local part unquoted (`a b@example.com`), as the
 *   queue and the resolver carry it;
 * - external form: quoted per RFC 5321/5322 where needed
 *   (`"a b"@example.com`), as lookup table keys are written.
 */

/** Splits at the last `@`: `{ local, domain }`; `domain` is undefined without `@`. */
export function splitAddress(address: string): { local: string; domain: string | undefined } {
  const at = address.lastIndexOf('@');
  if (at < 0) return { local: address, domain: undefined };
  return { local: address.slice(0, at), domain: address.slice(at + 1) };
}

export interface QuoteOptions {
  /** The input is a local part without `@domain`. */
  bareLocalpart?: boolean;
  /** Treat `@` in the local part as an ordinary character (Postfix QUOTE_FLAG_EXPOSE_AT). */
  exposeAt?: boolean;
  /**
   * Treat 8-bit (non-ASCII) text as ordinary text. Postfix's default
   * (QUOTE_FLAG_DEFAULT = QUOTE_FLAG_8BITCLEAN); pass false for strict RFC 822.
   */
  eightBitClean?: boolean;
}

const SPECIALS = new Set(['(', ')', '<', '>', ',', ';', ':', '\\', '"', '[', ']']);

function isDotString(local: string, opts: QuoteOptions): boolean {
  if (local.length === 0 || local[0] === '.' || local[local.length - 1] === '.') return false;
  for (let i = 0; i < local.length; i++) {
    const ch = local[i]!;
    const code = ch.charCodeAt(0);
    if (ch === '.' && local[i + 1] === '.') return false;
    if (code > 127 && opts.eightBitClean === false) return false;
    if (ch === ' ' || code < 32 || code === 127) return false;
    if (ch === '@' && !opts.exposeAt) return false;
    if (SPECIALS.has(ch)) return false;
  }
  return true;
}

/**
 * Quotes the local part of `address` when it is not an RFC 822 dot-string
 * (Postfix quote_822_local_flags): `a b@example.com` -> `"a b"@example.com`.
 * A source route prefix (`@a,@b:`) is left alone.
 */
export function quoteLocalPart(address: string, opts: QuoteOptions = {}): string {
  let start = 0;
  if (address.startsWith('@')) {
    const colon = address.indexOf(':');
    if (colon >= 0) start = colon + 1;
  }
  let end = address.length;
  if (!opts.bareLocalpart) {
    const at = address.lastIndexOf('@');
    if (at >= start) end = at;
  }
  const local = address.slice(start, end);
  if (isDotString(local, opts)) return address;
  let quoted = '"';
  for (const ch of local) {
    const code = ch.charCodeAt(0);
    if ((code > 127 && opts.eightBitClean === false) || ch === '"' || ch === '\\' || ch === '\r') quoted += '\\';
    quoted += ch;
  }
  quoted += '"';
  return address.slice(0, start) + quoted + address.slice(end);
}

/**
 * Converts an address to internal (unquoted) form (Postfix unquote_822_local):
 * `"a b"@example.com` -> `a b@example.com`. Text after the last unquoted
 * `@` is copied unchanged.
 */
export function unquoteLocalPart(address: string): string {
  let out = '';
  let start = 0;
  if (address.startsWith('@')) {
    const colon = address.indexOf(':');
    if (colon >= 0) {
      start = colon + 1;
      out = address.slice(0, start);
    }
  }
  let inQuote = false;
  let bareAtOut = -1;
  let bareAtSrc = -1;
  for (let i = start; i < address.length; i++) {
    let ch = address[i]!;
    if (ch === '"') {
      inQuote = !inQuote;
      continue;
    } else if (ch === '@') {
      if (!inQuote) {
        bareAtOut = out.length;
        bareAtSrc = i;
      }
    } else if (ch === '\\') {
      if (i + 1 >= address.length) continue;
      ch = address[++i]!;
    }
    out += ch;
  }
  if (bareAtOut >= 0) return out.slice(0, bareAtOut) + address.slice(bareAtSrc);
  return out;
}

/** Local parts that are never split at a recipient delimiter (Postfix split_addr). */
export interface SplitAddrOptions {
  /** $double_bounce_sender, default "double-bounce". */
  doubleBounceSender?: string;
}

/**
 * Splits a local part at the first recipient delimiter character (Postfix
 * split_addr): returns `{ base, extension }` where `extension` starts with
 * the delimiter, or undefined when the local part must not be split:
 * postmaster, mailer-daemon, $double_bounce_sender, `owner-*` and
 * `*-request` when `-` is a delimiter, or when the base would be empty.
 */
export function splitLocalPart(
  local: string,
  delimiters: string,
  opts: SplitAddrOptions = {},
): { base: string; extension: string } | undefined {
  if (delimiters === '') return undefined;
  const lower = local.toLowerCase();
  if (lower === 'postmaster' || lower === 'mailer-daemon') return undefined;
  if (lower === (opts.doubleBounceSender ?? 'double-bounce').toLowerCase()) return undefined;
  if (delimiters.includes('-')) {
    if (lower.startsWith('owner-')) return undefined;
    if (lower.length > 8 && lower.endsWith('-request')) return undefined;
  }
  let pos = -1;
  for (let i = 0; i < local.length; i++) {
    if (delimiters.includes(local[i]!)) {
      pos = i;
      break;
    }
  }
  if (pos <= 0) return undefined;
  return { base: local.slice(0, pos), extension: local.slice(pos) };
}

/**
 * Strips the address extension (Postfix strip_addr): `user+ext@domain` ->
 * `{ stripped: 'user@domain', extension: '+ext' }`; undefined when the
 * address has no extension.
 */
export function stripExtension(
  address: string,
  delimiters: string,
  opts: SplitAddrOptions = {},
): { stripped: string; extension: string } | undefined {
  const { local, domain } = splitAddress(address);
  const split = splitLocalPart(local, delimiters, opts);
  if (!split) return undefined;
  return { stripped: domain === undefined ? split.base : `${split.base}@${domain}`, extension: split.extension };
}
