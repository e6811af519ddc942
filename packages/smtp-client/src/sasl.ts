/**
 * The SASL client of smtp(8) and lmtp(8) (Postfix's smtp_sasl_glue.c and
 * SASL_README): credentials from smtp_sasl_password_maps, looked up by the
 * remote host name, then by the next-hop destination as written
 * ("[mail.isp.example]:587", "isp.example"); the value is "user:password".
 * Mechanisms are those the server offers, narrowed by
 * smtp_sasl_mechanism_filter and by the security options in force:
 * smtp_sasl_security_options on a plaintext session,
 * smtp_sasl_tls_security_options with TLS, and
 * smtp_sasl_tls_verified_security_options with a verified peer.
 * "noplaintext" rules out PLAIN and LOGIN, "noanonymous" ANONYMOUS: so, by
 * default, no password is ever sent over an unencrypted connection.
 */
import type { LookupTable } from '@postern/core';
import { mapsFind } from '@postern/address';

/** Mechanisms the client can run (session.ts), best first. */
export const CLIENT_MECHANISMS = ['CRAM-MD5', 'PLAIN', 'LOGIN'] as const;
const PLAINTEXT = new Set(['PLAIN', 'LOGIN']);
const ANONYMOUS = new Set(['ANONYMOUS']);

export interface SaslCredentials {
  readonly user: string;
  readonly password: string;
}

/** Looks the credentials up by host name, then by next-hop. */
export async function saslCredentials(
  tables: readonly LookupTable[],
  host: string,
  destination: string,
): Promise<SaslCredentials | undefined> {
  for (const key of [host.toLowerCase(), destination.toLowerCase()]) {
    const hit = await mapsFind(tables, key);
    if (!hit) continue;
    const colon = hit.value.indexOf(':');
    return colon < 0 ? { user: hit.value, password: '' } : { user: hit.value.slice(0, colon), password: hit.value.slice(colon + 1) };
  }
  return undefined;
}

/**
 * The mechanism to use: the first of CLIENT_MECHANISMS that the server
 * offers, the filter lets through (empty: all) and the options allow.
 */
export function chooseMechanism(
  offered: readonly string[],
  filter: readonly string[],
  options: readonly string[],
): string | undefined {
  const opts = new Set(options.map((o) => o.toLowerCase()));
  const allowed = new Set(filter.map((f) => f.toUpperCase()));
  const offer = new Set(offered.map((o) => o.toUpperCase()));
  return CLIENT_MECHANISMS.find(
    (m) =>
      offer.has(m) &&
      (allowed.size === 0 || allowed.has(m)) &&
      !(opts.has('noplaintext') && PLAINTEXT.has(m)) &&
      !(opts.has('noanonymous') && ANONYMOUS.has(m)),
  );
}
