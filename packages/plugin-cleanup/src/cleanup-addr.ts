/**
 * cleanup(8) address mapping (Postfix's cleanup_addr.c, cleanup_map11.c,
 * cleanup_map1n.c, cleanup_masquerade.c): canonical_maps (one to one, up to
 * 10 nested lookups), virtual_alias_maps (one to many, recursive, with
 * virtual_alias_recursion_limit and virtual_alias_expansion_limit, an address
 * may expand into itself once), masquerade_domains, and the bcc maps.
 *
 * Addresses here are in internal (unquoted) form, as in the envelope.
 * Map results are canonicalized through trivial-rewrite (local context),
 * as Postfix's mail_addr_crunch() does.
 */
import type { ConfigView, LookupTable, RewriteContext, RewriteService, TableRegistry } from '@postern/core';
import { mailAddrFind, mailAddrMap, quoteLocalPart, unquoteLocalPart } from '@postern/address';

/** The address classes of canonical_classes and masquerade_classes. */
export type AddressRole = 'envelope_sender' | 'envelope_recipient' | 'header_sender' | 'header_recipient';

/** A problem that makes cleanup give up on the message (tempfail). */
export class MappingError extends Error {
  constructor(
    readonly dsn: string,
    readonly reason: string,
    readonly warning: string,
  ) {
    super(warning);
  }
}

const MAX_CANON_RECURSION = 10;

export class AddressMapper {
  private readonly canonical: LookupTable[];
  private readonly senderCanonical: LookupTable[];
  private readonly recipientCanonical: LookupTable[];
  readonly virtualAlias: LookupTable[];
  readonly senderBcc: LookupTable[];
  readonly recipientBcc: LookupTable[];
  private readonly canonicalClasses: Set<string>;
  private readonly senderCanonicalClasses: Set<string>;
  private readonly recipientCanonicalClasses: Set<string>;
  private readonly masqDomains: string[];
  private readonly masqExceptions: Set<string>;
  private readonly masqExceptionTables: LookupTable[];
  private readonly masqClasses: Set<string>;
  private readonly propagate: Set<string>;
  private readonly localDomains = new Map<string, boolean>();

  constructor(
    private readonly config: ConfigView,
    tables: TableRegistry,
    private readonly rewriter: RewriteService,
  ) {
    this.canonical = tables.openList(config.get('canonical_maps'));
    this.senderCanonical = tables.openList(config.get('sender_canonical_maps'));
    this.recipientCanonical = tables.openList(config.get('recipient_canonical_maps'));
    this.virtualAlias = tables.openList(config.get('virtual_alias_maps'));
    this.senderBcc = tables.openList(config.get('sender_bcc_maps'));
    this.recipientBcc = tables.openList(config.get('recipient_bcc_maps'));
    this.canonicalClasses = new Set(config.list('canonical_classes'));
    this.senderCanonicalClasses = new Set(config.list('sender_canonical_classes'));
    this.recipientCanonicalClasses = new Set(config.list('recipient_canonical_classes'));
    this.masqDomains = config.list('masquerade_domains').map((d) => d.toLowerCase());
    const exceptions = config.list('masquerade_exceptions');
    this.masqExceptions = new Set(exceptions.filter((e) => !isTableSpec(e)).map((e) => e.toLowerCase()));
    this.masqExceptionTables = exceptions.filter(isTableSpec).map((e) => tables.open(e));
    this.masqClasses = new Set(config.list('masquerade_classes'));
    this.propagate = new Set(config.list('propagate_unmatched_extensions'));
  }

  /** Rewrites an internal-form address in `context` (empty stays empty). */
  async rewrite(context: RewriteContext, address: string): Promise<string> {
    if (address === '') return '';
    const external = await this.rewriter.rewrite(context, quoteLocalPart(address));
    return unquoteLocalPart(external);
  }

  /** resolve_local() plus $myorigin: may a bare local part be looked up for `domain`? */
  async isLocalDomain(domain: string): Promise<boolean> {
    const d = domain.toLowerCase();
    if (d === this.config.get('myorigin').toLowerCase()) return true;
    let local = this.localDomains.get(d);
    if (local === undefined) {
      const r = await this.rewriter.resolve(`postmaster@${domain}`);
      local = r.class === 'local' && !r.flags.includes('fail');
      if (!r.flags.includes('fail')) this.localDomains.set(d, local);
    }
    return local;
  }

  private findOptions() {
    return {
      recipientDelimiter: this.config.get('recipient_delimiter'),
      doubleBounceSender: this.config.get('double_bounce_sender') || undefined,
      isLocalDomain: (d: string) => this.isLocalDomain(d),
    };
  }

  /** canonical_maps etc. for `role`, then masquerading (when the role is in masquerade_classes). */
  async mapAddress(queueId: string, address: string, role: AddressRole): Promise<string> {
    if (address === '') return address;
    let addr = address;
    const isSender = role === 'envelope_sender' || role === 'header_sender';
    if (isSender && this.senderCanonicalClasses.has(role))
      addr = await this.map11(queueId, addr, this.senderCanonical, 'sender_canonical_maps');
    if (!isSender && this.recipientCanonicalClasses.has(role))
      addr = await this.map11(queueId, addr, this.recipientCanonical, 'recipient_canonical_maps');
    if (this.canonicalClasses.has(role)) addr = await this.map11(queueId, addr, this.canonical, 'canonical_maps');
    if (this.masqClasses.has(role)) addr = await this.masquerade(addr);
    return addr;
  }

  /** cleanup_map11: one-to-one mapping, repeated until a fixed point (10 times at most). */
  async map11(queueId: string, address: string, maps: readonly LookupTable[], title: string): Promise<string> {
    if (maps.length === 0) return address;
    let addr = address;
    for (let count = 0; count < MAX_CANON_RECURSION; count++) {
      let result: string[] | undefined;
      try {
        result = await mailAddrMap(maps, addr, { ...this.findOptions(), propagate: this.propagate.has('canonical') });
      } catch {
        throw new MappingError(
          '4.3.0',
          'Error: queue file write error',
          `${queueId}: ${title} map lookup problem for ${addr} -- message not accepted, try again later`,
        );
      }
      if (!result || result.length === 0) return addr;
      const next = await this.rewrite('local', result[0]!);
      const self = next.toLowerCase() === addr.toLowerCase();
      addr = next;
      if (self) return addr;
    }
    throw new MappingError(
      '4.6.0',
      'Alias expansion error',
      `${queueId}: unreasonable ${title} map nesting for ${address} -- message not accepted`,
    );
  }

  /** cleanup_map1n: virtual alias expansion of one recipient into a list. */
  async expandVirtual(queueId: string, address: string): Promise<string[]> {
    if (this.virtualAlias.length === 0) return [address];
    const recursionLimit = this.config.int('virtual_alias_recursion_limit');
    const expansionLimit = this.config.int('virtual_alias_expansion_limit');
    const list = [address];
    const selfExpanding = new Set<string>();
    const fail = (what: string) =>
      new MappingError('4.6.0', 'Alias expansion error', `${queueId}: unreasonable virtual_alias_maps map ${what} for ${address} -- message not accepted`);
    for (let i = 0; i < list.length; i++) {
      if (list.length > expansionLimit) throw fail('expansion size');
      for (let count = 0; ; count++) {
        const current = list[i]!;
        if (selfExpanding.has(current.toLowerCase())) break;
        if (count >= recursionLimit) throw fail('nesting');
        let result: string[] | undefined;
        try {
          result = await mailAddrMap(this.virtualAlias, current, { ...this.findOptions(), propagate: this.propagate.has('virtual') });
        } catch {
          throw new MappingError(
            '4.3.0',
            'Error: queue file write error',
            `${queueId}: virtual_alias_maps map lookup problem for ${current} -- message not accepted, try again later`,
          );
        }
        if (!result || result.length === 0) break;
        for (const [k, raw] of result.entries()) {
          const mapped = await this.rewrite('local', raw);
          if (k === 0) list[i] = mapped;
          else list.push(mapped);
          if (mapped.toLowerCase() === current.toLowerCase()) selfExpanding.add(current.toLowerCase());
        }
      }
    }
    if (list.length > expansionLimit) throw fail('expansion size');
    return list;
  }

  /** cleanup_masquerade: strip subdomains of masquerade_domains (first match wins, `!` = leave alone). */
  async masquerade(address: string): Promise<string> {
    if (this.masqDomains.length === 0) return address;
    const at = address.lastIndexOf('@');
    if (at < 0) return address;
    const local = address.slice(0, at).toLowerCase();
    if (this.masqExceptions.has(local)) return address;
    for (const t of this.masqExceptionTables) if ((await t.lookup(local)) !== undefined) return address;
    const domain = address.slice(at + 1).toLowerCase();
    for (const item of this.masqDomains) {
      const excluded = item.startsWith('!');
      const masq = excluded ? item.slice(1) : item;
      if (masq === '') continue;
      if (masq.length === domain.length) {
        if (masq === domain) break;
      } else if (masq.length < domain.length && domain.endsWith(`.${masq}`)) {
        if (excluded) break;
        return `${address.slice(0, at)}@${masq}`;
      }
    }
    return address;
  }

  /** sender_bcc_maps / recipient_bcc_maps lookup (extension ignored): the bcc address, if any. */
  async bccFor(maps: readonly LookupTable[], address: string): Promise<string | undefined> {
    if (maps.length === 0 || address === '') return undefined;
    const found = await mailAddrFind(maps, address, this.findOptions());
    return found ? unquoteLocalPart(found.value.trim()) : undefined;
  }
}

function isTableSpec(item: string): boolean {
  return /^[a-z0-9_-]+:/i.test(item);
}
