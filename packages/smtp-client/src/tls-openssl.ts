/**
 * Postfix's TLS protocol lists and cipher grades as Node.js TLS options, for
 * the SMTP client (smtp_tls_protocols, smtp_tls_ciphers, ...) and the SMTP
 * server (smtpd_tls_protocols, smtpd_tls_ciphers, ...) alike (Postfix's
 * tls_misc.c: tls_protocol_mask and tls_set_ciphers).
 *
 * Protocols: a list of "TLSv1.2" (only the named ones), "!TLSv1" (all but
 * these), ">=TLSv1.2" and "<=TLSv1.3" (floor and ceiling), separated by
 * spaces, commas or colons. OpenSSL can switch off any one protocol; Node.js
 * only offers minVersion and maxVersion, one contiguous range. A list with a
 * hole ("!TLSv1.1" while TLSv1 stays on) is narrowed to the highest range
 * above the hole, with a warning: leaving out what the administrator excluded
 * matters more than keeping the older protocols. SSLv2 and SSLv3 do not exist
 * in Node.js; naming them is accepted and changes nothing.
 *
 * Ciphers: the grade (high, medium, low, export, null) selects the OpenSSL
 * cipher string of tls_<grade>_cipherlist, and each entry of the exclusion
 * lists is appended as ":!name", as Postfix does. This is Node's `ciphers`
 * option, which governs TLS 1.2 and older only: the TLS 1.3 suites stay
 * OpenSSL's defaults (Postfix, too, leaves them alone; names starting with
 * "TLS_" in a Postfix exclusion list therefore change nothing here).
 */
import type { ParameterSpec } from '@postern/core';

const PROTOCOLS = ['SSLv2', 'SSLv3', 'TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'] as const;
/** The first protocol Node.js can speak (PROTOCOLS index). */
const NODE_FIRST = 2;

export type NodeTlsVersion = 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';

export interface ProtocolRange {
  readonly minVersion?: NodeTlsVersion;
  /** Left out for TLSv1.3, Node's own ceiling. */
  readonly maxVersion?: NodeTlsVersion;
  /** The list had a hole Node.js cannot express: what was used instead. */
  readonly warning?: string;
  /** The list is invalid or leaves no protocol: TLS cannot be used with it. */
  readonly error?: string;
}

/** Postfix protocol lists (">=TLSv1.2", "<=TLSv1.3", "!SSLv2, !TLSv1", "TLSv1.2 TLSv1.3") as Node's min/max. */
export function protocolRange(text: string): ProtocolRange {
  const idx = (p: string) => PROTOCOLS.findIndex((x) => x.toLowerCase() === p.toLowerCase());
  let floor = 0;
  let ceiling = PROTOCOLS.length - 1;
  const include = new Set<number>();
  const exclude = new Set<number>();
  for (const tok of text.split(/[\s,:]+/).filter(Boolean)) {
    const name = tok.startsWith('>=') || tok.startsWith('<=') ? tok.slice(2) : tok.startsWith('!') ? tok.slice(1) : tok;
    const i = idx(name);
    if (i < 0) return { error: `Invalid TLS protocol list "${text.trim()}": unknown protocol "${name}"` };
    if (tok.startsWith('>=')) floor = Math.max(floor, i);
    else if (tok.startsWith('<=')) ceiling = Math.min(ceiling, i);
    else if (tok.startsWith('!')) exclude.add(i);
    else include.add(i);
  }
  const on: boolean[] = PROTOCOLS.map((_, i) => i >= NODE_FIRST && i >= floor && i <= ceiling && !exclude.has(i) && (include.size === 0 || include.has(i)));
  const hi = on.lastIndexOf(true);
  if (hi < 0) return { error: `TLS protocol list "${text.trim()}" leaves no protocol that Node.js supports` };
  let lo = hi;
  while (lo > NODE_FIRST && on[lo - 1]) lo--;
  const holed = on.slice(0, lo).includes(true);
  const out: { minVersion?: NodeTlsVersion; maxVersion?: NodeTlsVersion; warning?: string } = { minVersion: PROTOCOLS[lo] as NodeTlsVersion };
  if (hi < PROTOCOLS.length - 1) out.maxVersion = PROTOCOLS[hi] as NodeTlsVersion;
  if (holed) {
    const range = lo === hi ? PROTOCOLS[lo] : `${PROTOCOLS[lo]} to ${PROTOCOLS[hi]}`;
    out.warning = `TLS protocol list "${text.trim()}" is not one contiguous range, which is all Node.js can enable: using ${range} only`;
  }
  return out;
}

/** Postfix's cipher grades and the parameter holding each one's OpenSSL cipher string. */
export const CIPHER_GRADES: ReadonlyMap<string, string> = new Map([
  ['high', 'tls_high_cipherlist'],
  ['medium', 'tls_medium_cipherlist'],
  ['low', 'tls_low_cipherlist'],
  ['export', 'tls_export_cipherlist'],
  ['null', 'tls_null_cipherlist'],
]);

/**
 * The OpenSSL cipher string for a grade minus the exclusions (each list is
 * split at spaces, commas and colons; an entry may not start with ! + - @).
 * `cipherlist` reads tls_<grade>_cipherlist from the configuration.
 */
export function cipherList(
  grade: string,
  exclusions: readonly string[],
  cipherlist: (parameter: string) => string,
): { readonly ciphers: string } | { readonly error: string } {
  const param = CIPHER_GRADES.get(grade.trim().toLowerCase());
  if (!param) return { error: `invalid cipher grade: "${grade.trim()}"` };
  let ciphers = cipherlist(param).trim();
  if (!ciphers) return { error: `${param} is empty` };
  for (const tok of exclusions.flatMap((e) => e.split(/[\s,:]+/)).filter(Boolean)) {
    if ('!+-@'.includes(tok[0]!)) return { error: `invalid unary '!+-@' in cipher exclusion: "${tok}"` };
    ciphers += `:!${tok}`;
  }
  return { ciphers };
}

/**
 * The tls_*_cipherlist parameters with Postfix 3.7's defaults (postconf -d).
 * The SMTP server and the SMTP/LMTP clients each declare them, so that either
 * works installed alone.
 */
export const CIPHERLIST_PARAMETERS: readonly ParameterSpec[] = [
  { name: 'tls_high_cipherlist', default: 'aNULL:-aNULL:HIGH:@STRENGTH', type: 'string', description: 'The OpenSSL cipher list of the "high" grade (TLS 1.2 and older; the TLS 1.3 suites stay OpenSSL\'s defaults).' },
  { name: 'tls_medium_cipherlist', default: 'aNULL:-aNULL:HIGH:MEDIUM:+RC4:@STRENGTH', type: 'string', description: 'The OpenSSL cipher list of the "medium" grade (TLS 1.2 and older).' },
  { name: 'tls_low_cipherlist', default: 'aNULL:-aNULL:HIGH:MEDIUM:LOW:+RC4:@STRENGTH', type: 'string', description: 'The OpenSSL cipher list of the "low" grade (TLS 1.2 and older).' },
  { name: 'tls_export_cipherlist', default: 'aNULL:-aNULL:HIGH:MEDIUM:LOW:EXPORT:+RC4:@STRENGTH', type: 'string', description: 'The OpenSSL cipher list of the "export" grade (TLS 1.2 and older).' },
  { name: 'tls_null_cipherlist', default: 'eNULL:!aNULL', type: 'string', description: 'The OpenSSL cipher list of the "null" grade: authentication without encryption (TLS 1.2 and older).' },
];
