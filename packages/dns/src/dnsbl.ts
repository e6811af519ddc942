/**
 * DNS allow/denylists as Postfix queries them (dnsblog.c, postscreen_dnsbl.c,
 * smtpd_check.c, ip_match.c):
 *
 *   - the query name of a client address under a list domain: the IPv4
 *     octets reversed ("2.0.0.127.zen.example"), or the 32 nibbles of an
 *     IPv6 address reversed; a domain name (RHSBL) is prefixed as it is;
 *   - site patterns "domain[=filter][*weight]" (postscreen_dnsbl_sites; the
 *     smtpd restrictions take "domain[=filter]"), where a filter matches the
 *     A records of the reply octet by octet: "127.0.0.2", "127.0.0.[2..5]",
 *     "127.0.[0;1].[2;4..6]".
 */
import { isIP } from 'node:net';
import type { NameResolver } from '@postern/core';

/** The DNS name to look `address` up under `domain`. */
export function dnsblQueryName(address: string, domain: string): string {
  if (isIP(address) === 4) return `${address.split('.').reverse().join('.')}.${domain}`;
  if (isIP(address) === 6) return `${expandIpv6(address).split('').reverse().join('.')}.${domain}`;
  return `${address.replace(/\.$/, '')}.${domain}`;
}

/** The 32 hex digits of an IPv6 address. */
function expandIpv6(address: string): string {
  let a = address.toLowerCase();
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(a);
  if (v4) {
    const o = v4[1]!.split('.').map(Number);
    a = a.slice(0, -v4[1]!.length) + `${((o[0]! << 8) | o[1]!).toString(16)}:${((o[2]! << 8) | o[3]!).toString(16)}`;
  }
  const [head, tail] = a.includes('::') ? a.split('::') : [a, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return groups.map((g) => g.padStart(4, '0')).join('');
}

/** One octet of a filter: the values it accepts. */
type OctetMatch = readonly (readonly [number, number])[];

/** A parsed filter ("127.0.0.[2..5]"), or a syntax error. */
export function parseIpFilter(text: string): readonly OctetMatch[] | { readonly error: string } {
  const octets: OctetMatch[] = [];
  let rest = text;
  for (let i = 0; i < 4; i++) {
    let ranges: [number, number][] = [];
    const m = /^(\d{1,3})/.exec(rest);
    if (m) {
      const n = Number(m[1]);
      ranges = [[n, n]];
      rest = rest.slice(m[0].length);
    } else if (rest.startsWith('[')) {
      const close = rest.indexOf(']');
      if (close < 0) return { error: `missing "]" in "${text}"` };
      for (const part of rest.slice(1, close).split(';')) {
        const r = /^(\d{1,3})(?:\.\.(\d{1,3}))?$/.exec(part);
        if (!r) return { error: `bad octet range "${part}" in "${text}"` };
        ranges.push([Number(r[1]), Number(r[2] ?? r[1])]);
      }
      rest = rest.slice(close + 1);
    } else {
      return { error: `bad address pattern "${text}"` };
    }
    if (ranges.some(([a, b]) => a > 255 || b > 255 || a > b)) return { error: `octet out of range in "${text}"` };
    octets.push(ranges);
    if (i < 3) {
      if (!rest.startsWith('.')) return { error: `bad address pattern "${text}"` };
      rest = rest.slice(1);
    }
  }
  if (rest !== '') return { error: `bad address pattern "${text}"` };
  return octets;
}

/** True when the IPv4 `address` matches `filter`. */
export function ipFilterMatch(filter: readonly OctetMatch[], address: string): boolean {
  const parts = address.split('.').map(Number);
  if (parts.length !== 4) return false;
  return filter.every((ranges, i) => ranges.some(([a, b]) => parts[i]! >= a && parts[i]! <= b));
}

export interface DnsblSite {
  readonly domain: string;
  /** The filter as written (for logs), when there is one. */
  readonly filterText?: string;
  readonly filter?: readonly OctetMatch[];
  /** postscreen's weight (default 1; negative for allowlists). */
  readonly weight: number;
}

/** "domain[=filter][*weight]" -> a site, or an error text (Postfix: fatal). */
export function parseDnsblSite(spec: string): DnsblSite | { readonly error: string } {
  let s = spec.trim();
  let weight = 1;
  const star = s.indexOf('*');
  if (star >= 0) {
    const w = s.slice(star + 1);
    if (!/^[+-]?\d+$/.test(w)) return { error: `bad DNSBL weight factor "${w}" in "${spec}"` };
    weight = Number(w);
    s = s.slice(0, star);
  }
  let filterText: string | undefined;
  let filter: readonly OctetMatch[] | undefined;
  const eq = s.indexOf('=');
  if (eq >= 0) {
    filterText = s.slice(eq + 1);
    const f = parseIpFilter(filterText);
    if ('error' in f) return { error: `bad DNSBL filter syntax: ${f.error}` };
    filter = f;
    s = s.slice(0, eq);
  }
  const domain = s.toLowerCase().replace(/\.$/, '');
  if (!/^[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*$/.test(domain)) {
    return { error: `bad DNSBL domain name "${s}" in "${spec}"` };
  }
  return { domain, filterText, filter, weight };
}

/** What one list said about one name. */
export interface DnsblAnswer {
  readonly status: 'listed' | 'notlisted' | 'tempfail';
  /** The IPv4 records of the reply (listed), each a string. */
  readonly addresses: readonly string[];
  /** The smallest record TTL in seconds, -1 when unknown. */
  readonly ttl: number;
  /** Why, for a temporary failure. */
  readonly reason?: string;
}

/** Looks `name` (an address or a domain) up under `domain`: the raw A records, unfiltered. */
export async function dnsblLookup(resolver: NameResolver, name: string, domain: string): Promise<DnsblAnswer> {
  const query = dnsblQueryName(name, domain);
  const a = await resolver.addresses(query, 'dns');
  if (a.status === 'tempfail') return { status: 'tempfail', addresses: [], ttl: -1, reason: a.reason };
  if (a.status === 'notfound') return { status: 'notlisted', addresses: [], ttl: -1 };
  const v4 = a.records.filter((r) => r.family === 4);
  if (!v4.length) return { status: 'notlisted', addresses: [], ttl: -1 };
  const ttls = v4.map((r) => r.ttl).filter((t): t is number => typeof t === 'number');
  return { status: 'listed', addresses: v4.map((r) => r.address), ttl: ttls.length ? Math.min(...ttls) : -1 };
}

/** The records of `answer` that `site`'s filter accepts (all of them without a filter). */
export function filterReply(site: Pick<DnsblSite, 'filter'>, addresses: readonly string[]): string[] {
  return site.filter ? addresses.filter((a) => ipFilterMatch(site.filter!, a)) : [...addresses];
}
