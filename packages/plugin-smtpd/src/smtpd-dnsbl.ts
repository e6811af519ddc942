/**
 * smtpd's DNS allow/denylist restrictions (smtpd_check.c reject_rbl_addr,
 * reject_rbl_domain, permit_dnswl_addr, permit_dnswl_domain,
 * rbl_reject_reply):
 *
 *   reject_rbl_client domain[=filter]      the client address (reversed)
 *   reject_rhsbl_client domain[=filter]    the verified client name
 *   reject_rhsbl_reverse_client ...        the unverified (reverse) client name
 *   reject_rhsbl_helo, _sender, _recipient the HELO name, sender or recipient domain
 *   permit_dnswl_client, permit_rhswl_client
 *
 * A listing rejects with rbl_reply_maps' template for the domain (with the
 * filter, then without) or default_rbl_reply, expanded with $rbl_code
 * (maps_rbl_reject_code), $rbl_class, $rbl_what, $rbl_domain and
 * $rbl_reason (the TXT record): "554 5.7.1 Service unavailable; Client host
 * [192.0.2.1] blocked using zen.example; listed". Lookups through core's
 * NameResolver contract, answers cached per process for a minute. Every
 * value expanded passes smtpd_expansion_filter (a TXT record is the
 * listing's text, not ours: other characters become '_').
 */
import { expansionFilter, type ConfigView, type LookupTable, type NameResolver, type TableRegistry } from '@postern/core';
import { dnsblLookup, dnsblQueryName, filterReply, parseIpFilter, type DnsblAnswer } from '@postern/dns';

/** What one DNSxL lookup said, for the restriction. */
export type DnsxlResult =
  | { readonly status: 'listed'; readonly txt: string }
  | { readonly status: 'notlisted' }
  | { readonly status: 'tempfail' };

/** The reply class names of smtpd_check.c (SMTPD_NAME_*). */
export const RBL_CLASS = {
  client: 'Client host',
  reverse: 'Unverified Client host',
  helo: 'Helo command',
  sender: 'Sender address',
  recipient: 'Recipient address',
} as const;

const CACHE_MS = 60_000;

export class SmtpdDnsxl {
  private readonly cache = new Map<string, { until: number; answer: Promise<DnsblAnswer & { txt: string }> }>();
  private replyMaps: LookupTable[] | undefined;
  private readonly filter: (value: string) => string;

  constructor(
    private readonly config: ConfigView,
    private readonly resolver: NameResolver,
    private readonly tables?: TableRegistry,
  ) {
    this.filter = expansionFilter(config.raw('smtpd_expansion_filter') ?? '');
  }

  private lookup(name: string, domain: string): Promise<DnsblAnswer & { txt: string }> {
    const key = `${name}\0${domain}`;
    const now = Date.now();
    const hit = this.cache.get(key);
    if (hit && hit.until > now) return hit.answer;
    const answer = dnsblLookup(this.resolver, name, domain).then(async (a) => {
      let txt = '';
      if (a.status === 'listed' && this.resolver.txt) {
        const t = await this.resolver.txt(dnsblQueryName(name, domain));
        if (t.status === 'ok') txt = t.records.join(' ');
      }
      return { ...a, txt };
    });
    this.cache.set(key, { until: now + CACHE_MS, answer });
    if (this.cache.size > 10_000) this.cache.delete(this.cache.keys().next().value!);
    return answer;
  }

  /** `spec` is "domain[=filter]"; `name` an address (reject_rbl_client) or a domain. */
  async query(spec: string, name: string): Promise<DnsxlResult> {
    const eq = spec.indexOf('=');
    const domain = eq < 0 ? spec : spec.slice(0, eq);
    let filter: ReturnType<typeof parseIpFilter> | undefined;
    if (eq >= 0) {
      filter = parseIpFilter(spec.slice(eq + 1));
      if ('error' in filter) throw new Error(`bad DNSxL filter in "${spec}": ${filter.error}`);
    }
    const a = await this.lookup(name, domain);
    if (a.status === 'tempfail') return { status: 'tempfail' };
    if (a.status !== 'listed') return { status: 'notlisted' };
    if (filter && !('error' in filter) && filterReply({ filter }, a.addresses).length === 0) return { status: 'notlisted' };
    return { status: 'listed', txt: a.txt };
  }

  /**
   * The domain part a reject_rhsbl_* or permit_rhswl_* check looks up
   * (find_dnsxl_domain), or undefined when there is none to look up: no
   * domain, an address literal, an all-numeric top label.
   */
  static domainOf(what: string): string | undefined {
    const at = what.lastIndexOf('@');
    const domain = at >= 0 ? what.slice(at + 1) : what;
    if (!domain || domain.startsWith('[')) return undefined;
    const last = domain.slice(domain.lastIndexOf('.') + 1);
    if (/^\d+$/.test(last)) return undefined;
    if (!/^[a-z0-9_]([a-z0-9_.-]*[a-z0-9_])?\.?$/i.test(domain)) return undefined;
    return domain.toLowerCase();
  }

  /** rbl_reject_reply: the reply code, DSN and text for a listing. */
  async rejectReply(
    spec: string,
    what: string,
    cls: string,
    txt: string,
    vars: Readonly<Record<string, string | undefined>>,
  ): Promise<{ code: number; dsn: string; text: string }> {
    const domain = spec.split('=')[0]!;
    let template: string | undefined;
    const maps = this.config.get('rbl_reply_maps').trim();
    if (maps && this.tables) {
      this.replyMaps ??= this.tables.openList(maps);
      for (const t of this.replyMaps) {
        template = (await t.lookup(spec)) ?? (spec !== domain ? await t.lookup(domain) : undefined);
        if (template !== undefined) break;
      }
    }
    const values: Record<string, string> = {
      ...Object.fromEntries(Object.entries(vars).map(([k, v]) => [k, this.filter(v ?? '')])),
      rbl_code: String(this.config.int('maps_rbl_reject_code')),
      rbl_domain: this.filter(domain),
      rbl_reason: this.filter(txt),
      rbl_txt: this.filter(txt),
      rbl_what: this.filter(what),
      rbl_class: cls,
    };
    const why = this.config.expand(template ?? this.config.raw('default_rbl_reply') ?? '', values);
    const m = /^([45]\d\d) (.*)$/s.exec(why);
    if (!m) return { code: 450, dsn: '4.7.1', text: 'Service unavailable' };
    const code = Number(m[1]);
    const d = /^([245]\.\d{1,3}\.\d{1,3})\s+(.*)$/s.exec(m[2]!);
    return { code, dsn: d ? d[1]! : '4.7.1', text: (d ? d[2]! : m[2]!) || 'Service unavailable' };
  }
}
