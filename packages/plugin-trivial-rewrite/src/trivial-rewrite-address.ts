/**
 * Address text helpers of trivial-rewrite(8): finding the operators of an
 * address (the rightmost `@` outside quotes and domain literals, `!`, `%`),
 * and validating the domain part as Postfix's valid_hostname() and
 * valid_mailhost_literal() do.
 */
import { isIP } from 'node:net';

/** Index of the last `ch` outside "quoted strings", [domain literals] and \escapes; -1 if none. */
export function lastUnquoted(address: string, ch: string): number {
  let found = -1;
  let quoted = false;
  let literal = false;
  for (let i = 0; i < address.length; i++) {
    const c = address[i];
    if (c === '\\') {
      i++;
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
    if (c === '"') quoted = true;
    else if (c === '[') literal = true;
    else if (c === ch) found = i;
  }
  return found;
}

/** Index of the first `ch` outside quotes and domain literals; -1 if none. */
export function firstUnquoted(address: string, ch: string): number {
  let quoted = false;
  let literal = false;
  for (let i = 0; i < address.length; i++) {
    const c = address[i];
    if (c === '\\') {
      i++;
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
    if (c === '"') quoted = true;
    else if (c === '[') literal = true;
    else if (c === ch) return i;
  }
  return -1;
}

/** Splits at the rightmost unquoted `@`: [local, domain] or [address, undefined]. */
export function splitAddress(address: string): [string, string | undefined] {
  const at = lastUnquoted(address, '@');
  return at < 0 ? [address, undefined] : [address.slice(0, at), address.slice(at + 1)];
}

/** valid_hostname(): dot-separated labels of letters, digits, `-` and `_`, 255 octets at most. */
export function validHostname(name: string): boolean {
  if (name.length === 0 || name.length > 255) return false;
  if (name.startsWith('.') || name.endsWith('.')) return false;
  let nonNumeric = false;
  for (const label of name.split('.')) {
    if (label.length === 0 || label.length > 63) return false;
    if (!/^[A-Za-z0-9_-]+$/.test(label) && !/^[\u0080-\uffff\w-]+$/u.test(label)) return false;
    if (label.startsWith('-') || label.endsWith('-')) return false;
    if (!/^\d+$/.test(label)) nonNumeric = true;
  }
  // A numeric name such as 1.2.3.4 is an address, not a hostname.
  return nonNumeric;
}

/** The address inside a domain literal: "[1.2.3.4]" -> "1.2.3.4", "[ipv6:::1]" -> "::1"; undefined if malformed. */
export function literalAddress(domain: string): string | undefined {
  if (!domain.startsWith('[') || !domain.endsWith(']')) return undefined;
  let inner = domain.slice(1, -1);
  if (/^ipv6:/i.test(inner)) {
    inner = inner.slice(5);
    return isIP(inner) === 6 ? inner : undefined;
  }
  return isIP(inner) === 4 ? inner : undefined;
}

/** valid_mailhost_literal(): [ipv4] or [ipv6:addr]. */
export function validHostLiteral(domain: string): boolean {
  return literalAddress(domain) !== undefined;
}

/** valid_hostaddr(): a bare IPv4 or IPv6 address. */
export function validHostAddr(text: string): boolean {
  return isIP(text) !== 0;
}
