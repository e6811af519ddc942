import { token } from './token.js';

/**
 * The name resolver the smtp(8) and lmtp(8) clients use to find the servers of
 * a destination (Postfix's dns_lookup(3) and smtp_addr.c): MX records, then
 * the addresses of each host. Payloads are plain data, so a resolver works the
 * same in-process and behind a service.
 *
 * Tests and the benchmark register their own resolver under NAME_RESOLVER in
 * the service's container, mapping test domains to loopback addresses (and,
 * a Postern extension, to a port: `HostAddress.port` overrides the port of
 * the next-hop, so several test servers share 127.0.0.1).
 */

/** One MX record. */
export interface MxRecord {
  readonly exchange: string;
  readonly preference: number;
}

/** One address of a host. */
export interface HostAddress {
  readonly address: string;
  readonly family: 4 | 6;
  /** Postern extension for tests and benchmarks: the port this address listens on. */
  readonly port?: number;
  /** The record's time to live in seconds, when the resolver knows it (DNSBL results). */
  readonly ttl?: number;
}

/**
 * A lookup's outcome: records, "no such name or no such record" (Postfix
 * DNS_NOTFOUND / DNS_FAIL: permanent) or a temporary failure (DNS_RETRY).
 */
export type ResolverAnswer<T> =
  | { readonly status: 'ok'; readonly records: readonly T[] }
  | { readonly status: 'notfound'; readonly reason: string }
  | { readonly status: 'tempfail'; readonly reason: string };

/** How host addresses are found (smtp_host_lookup): DNS queries, or the system resolver (getaddrinfo, /etc/hosts). */
export type HostLookupMethod = 'dns' | 'native';

export interface NameResolver {
  /** MX records of `domain`; ok with no records when the name exists but has no MX. */
  mx(domain: string): Promise<ResolverAnswer<MxRecord>>;
  /** Addresses of `host` by `method`. */
  addresses(host: string, method: HostLookupMethod): Promise<ResolverAnswer<HostAddress>>;
  /**
   * TXT records of `name`, each one string (its character strings joined), for
   * the $rbl_txt of DNSBL replies; resolvers without it give DNSBL replies no text.
   */
  txt?(name: string): Promise<ResolverAnswer<string>>;
  /**
   * NS host names of `domain` (check_*_ns_access); ok with no records when
   * the name exists but has no NS. Resolvers without it make those checks
   * find nothing.
   */
  ns?(domain: string): Promise<ResolverAnswer<string>>;
}

export const NAME_RESOLVER = token<NameResolver>('NameResolver');
