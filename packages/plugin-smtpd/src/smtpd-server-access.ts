/**
 * The hosts behind a name for check_{client,reverse_client,helo,sender,
 * recipient}_{mx,ns,a}_access (smtpd_check.c check_server_access): the
 * names and then the addresses an access table is searched for, in
 * Postfix's order.
 *
 *   mx   the domain's MX hosts (the domain itself when it has no MX), each
 *        host name, then its addresses
 *   ns   the domain's NS hosts (the parent's when it has none), each host
 *        name, then its addresses
 *   a    the addresses of the name itself (no name lookup)
 *
 * An address literal ([192.0.2.1]) stands for itself with mx and a, and
 * for nothing with ns. A lookup that fails is logged and checks nothing,
 * as Postfix's does. At most dns_rr_list_limit addresses are tried.
 */
import type { Logger, NameResolver } from '@postern/core';

export type ServerType = 'mx' | 'ns' | 'a';

/** check_<what>_<type>_access for every what and type. */
export const SERVER_ACCESS_RESTRICTIONS: readonly string[] = ['client', 'reverse_client', 'helo', 'sender', 'recipient'].flatMap((what) =>
  (['mx', 'ns', 'a'] as const).map((type) => `check_${what}_${type}_access`),
);

/** One thing to search the table for: a host name (domain keys) or an address (address keys). */
export type ServerCandidate = { readonly host: string } | { readonly address: string };

/** The DNS record type's name in log lines. */
const TYPE_NAME: Record<ServerType, string> = { mx: 'MX', ns: 'NS', a: 'A' };

const ADDRESS_LIMIT = 100;

function literal(domain: string): string | undefined {
  const m = /^\[(?:IPv6:)?([^\]]+)\]$/i.exec(domain);
  return m?.[1];
}

/** The hosts the lookup of `type` for `name` (an address's domain part, or a host name) names. */
async function serverHosts(resolver: NameResolver, type: ServerType, domain: string, log: Logger, name: string): Promise<string[] | undefined> {
  if (type === 'a') return [domain];
  if (type === 'mx') {
    const r = await resolver.mx(domain);
    if (r.status === 'tempfail') {
      log.warn(`Unable to look up MX host for ${domain}: ${r.reason}`);
      return undefined;
    }
    // a name without MX records is its own mail exchanger
    if (r.status === 'notfound' || r.records.length === 0) return [domain];
    // a null MX ("." at preference 0) says the domain takes no mail: nothing to check
    if (r.records.length === 1 && (r.records[0]!.exchange === '' || r.records[0]!.exchange === '.')) return [];
    return [...r.records].sort((x, y) => x.preference - y.preference).map((m) => m.exchange.replace(/\.$/, ''));
  }
  if (!resolver.ns) return [];
  // no NS records for the name itself: the parent domains' (the zone the name is in)
  for (let d: string | undefined = domain; d; d = d.includes('.') ? d.slice(d.indexOf('.') + 1) : undefined) {
    const r = await resolver.ns(d);
    if (r.status === 'ok' && r.records.length > 0) return r.records.map((n) => n.replace(/\.$/, ''));
    if (r.status === 'tempfail') {
      log.warn(`Unable to look up NS host for ${d}: ${r.reason}`);
      return undefined;
    }
  }
  log.warn(`Unable to look up NS host for ${name}: Host not found`);
  return undefined;
}

/**
 * Everything to search for `name` (a host name or an address, whose local
 * part is skipped), in order; the caller stops at the first entry found.
 */
export async function* serverCandidates(
  resolver: NameResolver,
  type: ServerType,
  name: string,
  log: Logger,
  what: string,
): AsyncGenerator<ServerCandidate> {
  const domain = name.slice(name.lastIndexOf('@') + 1).toLowerCase();
  const lit = literal(domain);
  if (lit !== undefined) {
    if (type !== 'ns') yield { address: lit };
    return;
  }
  const hosts = await serverHosts(resolver, type, domain, log, name);
  if (!hosts) return;
  let count = 0;
  for (const host of hosts) {
    if (type !== 'a') yield { host };
    const r = await resolver.addresses(host, 'dns');
    if (r.status !== 'ok') {
      if (type !== 'a') log.warn(`Unable to look up ${TYPE_NAME[type]} host ${host} for ${what}: ${r.reason}`);
      continue;
    }
    for (const a of r.records) {
      if (++count > ADDRESS_LIMIT) {
        log.warn(`check_server_access: ${TYPE_NAME[type]} server address count limit (${ADDRESS_LIMIT}) exceeded for ${what} -- ignoring the remainder`);
        return;
      }
      yield { address: a.address };
    }
  }
}
