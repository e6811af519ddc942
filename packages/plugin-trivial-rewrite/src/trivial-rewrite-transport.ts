/**
 * transport_maps lookups of trivial-rewrite(8) (transport(5), Postfix's
 * transport.c).
 *
 * Search order, first match wins: the full address `user+ext@domain`
 * (the only key pattern tables such as regexp: and pcre: see), then
 * `user@domain` without the extension, then the domain, then its parent
 * domains: `.parent.domain` forms by default, or plain `parent.domain` when
 * parent_domain_matches_subdomains lists transport_maps. Last, the `*`
 * wildcard entry.
 *
 * A result is `transport:nexthop`. An empty transport keeps the address
 * class's transport; an empty nexthop keeps the current nexthop when the
 * transport is empty too, and otherwise means the recipient domain (for the
 * error and retry transports: "Address is undeliverable").
 */
import { SERVICE, type LookupTable } from '@postern/core';
import { splitAddress } from './trivial-rewrite-address.js';

export interface TransportEntry {
  transport: string;
  nexthop: string;
}

export interface TransportOptions {
  /** recipient_delimiter characters ("" = no extensions). */
  readonly delimiters: string;
  /** transport_maps listed in parent_domain_matches_subdomains. */
  readonly parentMatches: boolean;
}

/** The keys transport(5) looks up for `address`, in order; the first is also the pattern-table key. */
export function transportKeys(address: string, options: TransportOptions): string[] {
  const [local, domain = ''] = splitAddress(address);
  const keys = [address];
  const stripped = stripExtension(local, options.delimiters);
  if (stripped !== local) keys.push(`${stripped}@${domain}`);
  const d = domain.toLowerCase();
  if (d) {
    keys.push(d);
    for (let dot = d.indexOf('.'); dot >= 0; dot = d.indexOf('.', dot + 1)) {
      const parent = options.parentMatches ? d.slice(dot + 1) : d.slice(dot);
      if (parent !== '' && parent !== '.') keys.push(parent);
    }
  }
  return keys;
}

function stripExtension(local: string, delimiters: string): string {
  if (!delimiters) return local;
  const lower = local.toLowerCase();
  if (lower === 'postmaster' || lower === 'mailer-daemon') return local;
  for (let i = 0; i < local.length; i++) {
    if (delimiters.includes(local[i])) return i === 0 ? local : local.slice(0, i);
  }
  return local;
}

/** Splits a table result at the first `:` (a value without one is a transport). */
export function parseTransport(value: string): TransportEntry {
  const v = value.trim();
  const colon = v.indexOf(':');
  return colon < 0 ? { transport: v, nexthop: '' } : { transport: v.slice(0, colon), nexthop: v.slice(colon + 1) };
}

/** Applies a transport(5) result to the current transport and nexthop (update_entry). */
export function applyTransport(current: TransportEntry, entry: TransportEntry, rcptDomain: string): TransportEntry {
  if (entry.transport === '') return entry.nexthop ? { transport: current.transport, nexthop: entry.nexthop } : current;
  if (entry.nexthop) return entry;
  if (entry.transport === SERVICE.ERROR || entry.transport === SERVICE.RETRY)
    return { transport: entry.transport, nexthop: 'Address is undeliverable' };
  return { transport: entry.transport, nexthop: rcptDomain };
}

/**
 * Looks `address` up in transport_maps; undefined when nothing matches
 * (the caller keeps the class defaults). Lookup failures throw.
 */
export async function transportLookup(
  tables: readonly LookupTable[],
  address: string,
  options: TransportOptions,
): Promise<TransportEntry | undefined> {
  const keys = transportKeys(address, options);
  for (const [i, key] of keys.entries()) {
    for (const table of tables) {
      if (table.pattern && i > 0) continue;
      const value = await table.lookup(table.pattern ? key : key.toLowerCase());
      if (value !== undefined) return parseTransport(value);
    }
  }
  for (const table of tables) {
    const value = await table.lookup('*');
    if (value !== undefined) return parseTransport(value);
  }
  return undefined;
}
