/**
 * NAME
 *   dnsblog - Postern DNS allow/denylist logger (Postfix dnsblog(8))
 *
 * SYNOPSIS
 *   master.cf:  dnsblog   unix  -       -       n       -       0       dnsblog
 *
 * DESCRIPTION
 *   dnsblog receives a DNS allow/denylist domain, a client address and a
 *   request id (postscreen's DNSBL/DNSWL queries), looks the reversed
 *   address up under the domain, logs a match, and replies with the query
 *   arguments plus the A records found (space separated, empty when not
 *   listed) and the reply's TTL (-1 when unknown).
 *
 * PROTOCOL
 *   Core's IPC over private/dnsblog, the DnsblogService contract
 *   (@postern/core contracts/dnsblog.ts): query { domain, address, id } ->
 *   { domain, address, id, result, ttl } (Postfix's rbl_domain,
 *   act_client_addr, label, rbl_addr, ttl attributes).
 *
 *   DNS goes through the NameResolver contract: a NAME_RESOLVER registered
 *   in the process's container, else @postern/dns's resolver on the servers
 *   of postern_dns_servers (empty: /etc/resolv.conf).
 *
 * CONFIGURATION PARAMETERS
 *   dnsblog_reply_delay (0s)   debugging: delay each reply.
 *   postern_dns_servers ()     Postern extension: the DNS servers to ask.
 *
 * LOGGING
 *   addr 192.0.2.1 listed by domain zen.example as 127.0.0.2
 *   warning: dnsblog_query: lookup error for DNS query 1.2.0.192.zen.example: ...
 */
import { NAME_RESOLVER, serveDnsblog, tryUse, type DnsblogReply, type DnsblogService, type Logger, type NameResolver, type ServiceMain } from '@postern/core';
import { configuredResolver, dnsblLookup, dnsblQueryName } from '@postern/dns';

/** dnsblog's lookups with `resolver`, logging to `log`, each reply held back `delayMs`. */
export function createDnsblog(resolver: NameResolver, log: Logger, delayMs = 0): DnsblogService {
  return {
    async query(domain: string, address: string, id: number): Promise<DnsblogReply> {
      const answer = await dnsblLookup(resolver, address, domain);
      if (answer.status === 'listed') {
        for (const a of answer.addresses) log.info(`addr ${address} listed by domain ${domain} as ${a}`);
      } else if (answer.status === 'tempfail') {
        log.warn(`dnsblog_query: lookup error for DNS query ${dnsblQueryName(address, domain)}: ${answer.reason ?? 'temporary failure'}`);
      }
      if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
      return { domain, address, id, result: answer.addresses.join(' '), ttl: answer.ttl };
    },
  };
}

export const main: ServiceMain = async (ctx) => {
  const resolver = tryUse(ctx.container, NAME_RESOLVER) ?? configuredResolver(ctx.config);
  return serveDnsblog(ctx, createDnsblog(resolver, ctx.log, ctx.config.time('dnsblog_reply_delay') * 1000));
};
