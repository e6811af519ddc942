/**
 * Finding the servers of a destination (Postfix's smtp_addr.c and dns_lookup.c):
 *
 *   - a domain next-hop: MX records sorted by preference, equal preferences
 *     in random order, each exchange's addresses in turn; a domain without MX
 *     records is its own server (A/AAAA fallback);
 *   - a [host] next-hop: the host's addresses (an IP literal is its own);
 *   - smtp_dns_support_level = disabled (or disable_dns_lookups = yes): no MX
 *     lookups, addresses from the system resolver (getaddrinfo, /etc/hosts);
 *   - smtp_host_lookup: dns, native, or both in that order;
 *   - at most smtp_mx_address_limit addresses in all (0: no limit).
 *
 * The resolver itself is a contract (NAME_RESOLVER): systemResolver() asks
 * node:dns; staticResolver() answers from a lookup table first (Postern's
 * smtp_static_resolver_maps, for tests and benchmarks) and asks the system
 * for names the table does not know.
 */
import { promises as dns } from 'node:dns';
import { isIP } from 'node:net';
import type {
  HostAddress,
  HostLookupMethod,
  MxRecord,
  NameResolver,
  ResolverAnswer,
} from '@postern/core';
import type { LookupTable } from '@postern/core';

const NOTFOUND_CODES = new Set(['ENOTFOUND', 'ENODATA', 'NXDOMAIN', 'ENONAME']);

function dnsFailure<T>(err: unknown, name: string, type: string): ResolverAnswer<T> {
  const code = (err as NodeJS.ErrnoException)?.code ?? '';
  return NOTFOUND_CODES.has(code)
    ? { status: 'notfound', reason: `Host or domain name not found. Name service error for name=${name} type=${type}: Host not found` }
    : { status: 'tempfail', reason: `Host or domain name not found. Name service error for name=${name} type=${type}: Host not found, try again` };
}

/** The resolver of the running system: DNS queries through node:dns, native through getaddrinfo. */
export function systemResolver(): NameResolver {
  return {
    async mx(domain) {
      try {
        const records = await dns.resolveMx(domain);
        return { status: 'ok', records: records.map((r) => ({ exchange: r.exchange.toLowerCase(), preference: r.priority })) };
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENODATA') return { status: 'ok', records: [] };
        return dnsFailure(err, domain, 'MX');
      }
    },
    async addresses(host, method) {
      const literal = isIP(host);
      if (literal) return { status: 'ok', records: [{ address: host, family: literal as 4 | 6 }] };
      if (method === 'native') {
        try {
          const all = await dns.lookup(host, { all: true });
          return { status: 'ok', records: all.map((a) => ({ address: a.address, family: a.family as 4 | 6 })) };
        } catch (err) {
          return dnsFailure(err, host, 'A');
        }
      }
      const records: HostAddress[] = [];
      let failure: ResolverAnswer<HostAddress> | undefined;
      for (const [family, type] of [[4, 'A'], [6, 'AAAA']] as const) {
        try {
          const list = family === 4 ? await dns.resolve4(host) : await dns.resolve6(host);
          for (const address of list) records.push({ address, family });
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENODATA') failure ??= dnsFailure(err, host, type);
        }
      }
      if (records.length) return { status: 'ok', records };
      return failure ?? { status: 'notfound', reason: `Host or domain name not found. Name service error for name=${host} type=A: Host not found` };
    },
  };
}

/**
 * Parses a static resolver table value: white-space or comma separated
 * tokens, `mx=PREF:HOST` for an MX record, `ADDRESS`, `ADDRESS:PORT` or
 * `[ADDRESS]:PORT` for an address (the port is a Postern extension).
 */
export function parseStaticEntry(value: string): { mx: MxRecord[]; addresses: HostAddress[] } {
  const mx: MxRecord[] = [];
  const addresses: HostAddress[] = [];
  for (const tok of value.split(/[\s,]+/).filter(Boolean)) {
    const m = /^mx=(\d+):(.+)$/i.exec(tok);
    if (m) {
      mx.push({ preference: Number(m[1]), exchange: m[2]!.toLowerCase() });
      continue;
    }
    let addr = tok;
    let port: number | undefined;
    const br = /^\[([^\]]+)\](?::(\d+))?$/.exec(tok);
    if (br) {
      addr = br[1]!;
      if (br[2]) port = Number(br[2]);
    } else if (isIP(tok) !== 6) {
      const colon = tok.lastIndexOf(':');
      if (colon > 0) {
        addr = tok.slice(0, colon);
        port = Number(tok.slice(colon + 1));
      }
    }
    const family = isIP(addr);
    if (family) addresses.push({ address: addr, family: family as 4 | 6, ...(port && { port }) });
  }
  return { mx, addresses };
}

/**
 * A resolver that answers from `tables` (keys: host or domain names, values
 * as parseStaticEntry reads them) and asks `fallback` for other names. A
 * name in the table with addresses but no mx= tokens has no MX records.
 */
export function staticResolver(tables: readonly LookupTable[], fallback?: NameResolver): NameResolver {
  const find = async (name: string) => {
    for (const t of tables) {
      const v = await t.lookup(name.toLowerCase());
      if (v !== undefined) return parseStaticEntry(v);
    }
    return undefined;
  };
  const none = <T>(name: string, type: string): ResolverAnswer<T> => ({
    status: 'notfound',
    reason: `Host or domain name not found. Name service error for name=${name} type=${type}: Host not found`,
  });
  return {
    async mx(domain) {
      const e = await find(domain);
      if (e) return { status: 'ok', records: e.mx };
      return fallback ? fallback.mx(domain) : none(domain, 'MX');
    },
    async addresses(host, method: HostLookupMethod) {
      const literal = isIP(host);
      if (literal) return { status: 'ok', records: [{ address: host, family: literal as 4 | 6 }] };
      const e = await find(host);
      if (e && e.addresses.length) return { status: 'ok', records: e.addresses };
      if (e) return none(host, 'A');
      return fallback ? fallback.addresses(host, method) : none(host, 'A');
    },
  };
}

/** One server to try: its name, one address, the port. */
export interface ServerAddress {
  readonly host: string;
  readonly address: string;
  readonly port: number;
  /** MX preference (0 for a host without MX). */
  readonly preference: number;
}

export interface ServerLookupOptions {
  readonly resolver: NameResolver;
  /** False: smtp_dns_support_level = disabled (no MX lookups, native host lookups). */
  readonly dns: boolean;
  /** smtp_host_lookup, in order. */
  readonly hostLookup: readonly HostLookupMethod[];
  /** smtp_mx_address_limit (0: no limit). */
  readonly addressLimit: number;
  /** Shuffles equal-preference records; default Math.random. */
  readonly random?: () => number;
}

/** The servers to try, or the failure (notfound: bounce, tempfail: defer). */
export type ServerList =
  | { readonly status: 'ok'; readonly servers: readonly ServerAddress[] }
  | { readonly status: 'notfound' | 'tempfail'; readonly reason: string };

async function hostAddresses(
  opts: ServerLookupOptions,
  host: string,
): Promise<ResolverAnswer<HostAddress>> {
  const methods: HostLookupMethod[] = opts.dns ? [...opts.hostLookup] : ['native'];
  if (!methods.length) methods.push('dns');
  let last: ResolverAnswer<HostAddress> | undefined;
  for (const m of methods) {
    const a = await opts.resolver.addresses(host, m);
    if (a.status === 'ok' && a.records.length) return a;
    if (!last || last.status !== 'tempfail') last = a;
  }
  return last ?? { status: 'notfound', reason: `Host or domain name not found. Name service error for name=${host} type=A: Host not found` };
}

function shuffleEqual(records: readonly MxRecord[], random: () => number): MxRecord[] {
  const keyed = records.map((r) => ({ r, k: random() }));
  keyed.sort((a, b) => a.r.preference - b.r.preference || a.k - b.k);
  return keyed.map((x) => x.r);
}

/** Postfix smtp_domain_addr / smtp_host_addr: the ordered server list of one destination. */
export async function lookupServers(
  opts: ServerLookupOptions,
  host: string,
  port: number,
  mx: boolean,
): Promise<ServerList> {
  const limit = opts.addressLimit > 0 ? opts.addressLimit : Infinity;
  const literal = isIP(host);
  if (literal) return { status: 'ok', servers: [{ host, address: host, port, preference: 0 }] };
  const servers: ServerAddress[] = [];
  const push = (h: string, list: readonly HostAddress[], pref: number) => {
    for (const a of list) if (servers.length < limit) servers.push({ host: h, address: a.address, port: a.port ?? port, preference: pref });
  };
  if (mx && opts.dns) {
    const answer = await opts.resolver.mx(host);
    if (answer.status !== 'ok') return answer;
    if (answer.records.length) {
      let failure: ServerList | undefined;
      for (const rec of shuffleEqual(answer.records, opts.random ?? Math.random)) {
        if (servers.length >= limit) break;
        const a = await hostAddresses(opts, rec.exchange);
        if (a.status === 'ok') push(rec.exchange, a.records, rec.preference);
        else if (!failure || failure.status !== 'tempfail') failure = a;
      }
      if (servers.length) return { status: 'ok', servers };
      return failure ?? { status: 'notfound', reason: `Host or domain name not found. Name service error for name=${host} type=MX: Host not found` };
    }
  }
  const a = await hostAddresses(opts, host);
  if (a.status !== 'ok') return a;
  push(host, a.records, 0);
  return { status: 'ok', servers };
}
