/**
 * postscreen's DNSBL/DNSWL scoring (postscreen_dnsbl.c): one dnsblog(8)
 * query per distinct domain of postscreen_dnsbl_sites, all at once; each
 * reply adds the weight of every site of that domain whose filter accepts
 * one of the reply's records. The name shown in replies is the matching site
 * with the largest weight (through postscreen_dnsbl_reply_map). The score's
 * TTL is the smallest TTL of the replies that made it (denylisted) or kept
 * it at zero (not listed), within postscreen_dnsbl_min_ttl and _max_ttl.
 * A query still unanswered when the score is taken counts as not listed.
 */
import type { DnsblogService, Logger, LookupTable } from '@postern/core';
import { filterReply, parseDnsblSite, type DnsblSite } from '@postern/dns';

export interface DnsblScore {
  readonly score: number;
  /** The reply name of the heaviest matching site ("" when none matched). */
  readonly name: string;
  /** Seconds. */
  readonly ttl: number;
}

export interface DnsblConfig {
  readonly sites: readonly string[];
  readonly minTtl: number;
  readonly maxTtl: number;
  readonly timeoutMs: number;
  readonly replyMap?: LookupTable;
}

export class DnsblScorer {
  /** domain -> its sites. */
  private readonly byDomain = new Map<string, DnsblSite[]>();
  private readonly replyNames = new Map<string, string>();
  private nextId = 1;

  constructor(
    private readonly dnsblog: DnsblogService,
    private readonly cfg: DnsblConfig,
    log: Logger,
  ) {
    for (const spec of cfg.sites) {
      const site = parseDnsblSite(spec);
      if ('error' in site) {
        log.warn(`postscreen_dnsbl_sites: ${site.error} -- ignoring this site`);
        continue;
      }
      const list = this.byDomain.get(site.domain) ?? [];
      list.push(site);
      this.byDomain.set(site.domain, list);
    }
  }

  get enabled(): boolean {
    return this.byDomain.size > 0;
  }

  private async replyName(domain: string): Promise<string> {
    let n = this.replyNames.get(domain);
    if (n === undefined) {
      n = (this.cfg.replyMap ? await this.cfg.replyMap.lookup(domain).catch(() => undefined) : undefined) ?? domain;
      this.replyNames.set(domain, n);
    }
    return n;
  }

  /** Starts the queries for `address`; the returned function takes the score of what has arrived. */
  request(address: string): { retrieve(): DnsblScore; settled: Promise<void> } {
    let score = 0;
    let best: { name: string; weight: number } | undefined;
    let failTtl = -1;
    let passTtl = -1;
    const lower = (cur: number, ttl: number) => (cur < 0 || cur > ttl ? ttl : cur);
    const pending: Promise<void>[] = [];
    for (const [domain, sites] of this.byDomain) {
      const id = this.nextId++;
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<undefined>((r) => {
        timer = setTimeout(() => r(undefined), this.cfg.timeoutMs);
        timer.unref();
      });
      pending.push(
        Promise.race([this.dnsblog.query(domain, address, id), timeout]).then(async (reply) => {
          clearTimeout(timer);
          if (!reply || reply.id !== id) return;
          const records = reply.result.split(/\s+/).filter(Boolean);
          for (const site of sites) {
            if (records.length && filterReply(site, records).length) {
              const name = await this.replyName(domain);
              if (!best || best.weight < site.weight) best = { name, weight: site.weight };
              score += site.weight;
            }
            // a reply (whatever the filter says) bounds the TTL of a listing; no reply, that of a pass
            if ((records.length > 0) === (site.weight > 0)) failTtl = lower(failTtl, reply.ttl);
            else passTtl = lower(passTtl, reply.ttl);
          }
        }),
      );
    }
    const settled = Promise.all(pending).then(() => undefined);
    return {
      settled,
      retrieve: () => {
        let ttl = score > 0 ? failTtl : passTtl;
        ttl = Math.min(Math.max(ttl, this.cfg.minTtl), this.cfg.maxTtl);
        return { score, name: best?.name ?? '', ttl };
      },
    };
  }
}
