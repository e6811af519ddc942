/**
 * flush(8)'s eligibility policy: a destination has a fast flush log only when
 * it matches fast_flush_domains (default $relay_domains), a Postfix domain
 * list (core's MatchList): names (with `.name` for subdomains, and plain
 * `name` matching its subdomains too while fast_flush_domains is listed in
 * parent_domain_matches_subdomains, the default), `!name` exceptions,
 * /file/name lists and type:table lookups. The first match decides.
 */
import { domainListStyle, MatchList, type ConfigView, type TableRegistry } from '@postern/core';

export class FlushPolicy {
  private readonly list: MatchList;

  constructor(config: ConfigView, tables: TableRegistry | undefined, parameter = 'fast_flush_domains') {
    this.list = new MatchList(parameter, config.list(parameter), tables, domainListStyle(config, parameter));
  }

  /** True when `site` may have a fast flush log. */
  match(site: string): Promise<boolean> {
    return this.list.match(site);
  }
}
