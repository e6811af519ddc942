/**
 * A NameResolver (core's contracts/resolver.ts) that asks DNS servers of its
 * own through c-ares (node:dns Resolver): the servers of /etc/resolv.conf,
 * or those of the Postern parameter postern_dns_servers ("127.0.0.1:5353",
 * a test's DNS server on a loopback port). Unlike the system resolver it
 * reports each A/AAAA record's TTL and answers TXT queries, which DNSBL
 * scoring (TTL) and reply texts ($rbl_txt) need.
 */
import { Resolver } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { ConfigView, HostAddress, MxRecord, NameResolver, ResolverAnswer } from '@postern/core';

const NOTFOUND = new Set(['ENOTFOUND', 'ENODATA', 'NXDOMAIN', 'ENONAME']);

function failure<T>(err: unknown, name: string, type: string): ResolverAnswer<T> {
  const code = (err as NodeJS.ErrnoException)?.code ?? '';
  return NOTFOUND.has(code)
    ? { status: 'notfound', reason: `Host or domain name not found. Name service error for name=${name} type=${type}: Host not found` }
    : { status: 'tempfail', reason: `Host or domain name not found. Name service error for name=${name} type=${type}: Host not found, try again` };
}

export interface DnsResolverOptions {
  /** Servers as "address" or "address:port" ([v6]:port); none: the system's. */
  readonly servers?: readonly string[];
  /** Per-try timeout in ms (c-ares doubles it on each retry). */
  readonly timeoutMs?: number;
  readonly tries?: number;
}

export function dnsResolver(options: DnsResolverOptions = {}): NameResolver {
  const r = new Resolver({ timeout: options.timeoutMs ?? 5000, tries: options.tries ?? 2 });
  if (options.servers?.length) r.setServers([...options.servers]);
  return {
    async mx(domain) {
      try {
        const records = await r.resolveMx(domain);
        return { status: 'ok', records: records.map((x): MxRecord => ({ exchange: x.exchange.toLowerCase(), preference: x.priority })) };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENODATA') return { status: 'ok', records: [] };
        return failure(err, domain, 'MX');
      }
    },
    async addresses(host) {
      const literal = isIP(host);
      if (literal) return { status: 'ok', records: [{ address: host, family: literal as 4 | 6 }] };
      const records: HostAddress[] = [];
      let failed: ResolverAnswer<HostAddress> | undefined;
      for (const family of [4, 6] as const) {
        try {
          const list = family === 4 ? await r.resolve4(host, { ttl: true }) : await r.resolve6(host, { ttl: true });
          for (const a of list) records.push({ address: a.address, family, ttl: a.ttl });
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENODATA') failed ??= failure(err, host, family === 4 ? 'A' : 'AAAA');
        }
      }
      if (records.length) return { status: 'ok', records };
      return failed ?? failure({ code: 'ENOTFOUND' }, host, 'A');
    },
    async ns(domain) {
      try {
        return { status: 'ok', records: (await r.resolveNs(domain)).map((n) => n.toLowerCase()) };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENODATA') return { status: 'ok', records: [] };
        return failure(err, domain, 'NS');
      }
    },
    async txt(name) {
      try {
        return { status: 'ok', records: (await r.resolveTxt(name)).map((chunks) => chunks.join('')) };
      } catch (err) {
        return failure(err, name, 'TXT');
      }
    },
  };
}

/** The resolver main.cf asks for: postern_dns_servers, else the system's servers. */
export function configuredResolver(config: ConfigView): NameResolver {
  return dnsResolver({ servers: config.list('postern_dns_servers') });
}
