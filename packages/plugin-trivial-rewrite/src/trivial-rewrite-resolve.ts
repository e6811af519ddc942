/**
 * trivial-rewrite(8) address resolution (Postfix's resolve.c): from a
 * recipient address to the address class, the delivery transport, the
 * nexthop destination and the recipient as the delivery agent sees it.
 *
 * 1. Local domains are stripped off, and routing operators in what is left
 *    (`user@remote@local`, `user%remote@local` with allow_percent_hack,
 *    `remote!user@local` with swap_bangpath) are turned into a new
 *    destination, until a remote domain or a bare local part is left.
 *    A bare local part gets back the local domain it came with, or
 *    `@$myhostname`. The null address becomes $empty_address_recipient.
 * 2. The class follows ADDRESS_CLASS_README, in this order:
 *    virtual_alias_domains (error:5.1.1 User unknown in virtual alias table),
 *    virtual_mailbox_domains ($virtual_transport, nexthop = domain),
 *    relay_domains ($relay_transport), otherwise default ($default_transport,
 *    or sender_dependent_default_transport_maps); relay and default take the
 *    nexthop from sender_dependent_relayhost_maps, then $relayhost, then the
 *    domain. A local domain is class local ($local_transport).
 *    `transport:nexthop` in a *_transport parameter overrides the nexthop.
 * 3. transport_maps override transport and/or nexthop (not for the virtual
 *    alias class); relocated_maps turn the result into
 *    error:5.1.6 User has moved to ...
 *
 * Flags: final (local, virtual alias and virtual mailbox classes), routed
 * (routing operators left in the local part), error (bad domain syntax),
 * fail (a table lookup failed: try again later).
 */
import type { AddressClass, ConfigView, LookupTable, Logger, ResolveResult, TableRegistry } from '@postern/core';
import { domainListStyle, MatchList, SERVICE } from '@postern/core';
import { mailAddrFind } from '@postern/address';
import { lastUnquoted, validHostAddr, validHostLiteral, validHostname } from './trivial-rewrite-address.js';
import { LocalDomains, ownAddresses } from './trivial-rewrite-domains.js';
import { rewriteAddress, type RewriteRules } from './trivial-rewrite-rewrite.js';
import { applyTransport, parseTransport, transportLookup, type TransportEntry } from './trivial-rewrite-transport.js';

type Flag = ResolveResult['flags'][number];

/** Thrown inside resolve when a lookup fails; becomes RESOLVE_FLAG_FAIL. */
class LookupFailure extends Error {}

export class Resolver {
  private readonly local: LocalDomains;
  private readonly virtualAliasDomains: MatchList;
  private readonly virtualMailboxDomains: MatchList;
  private readonly relayDomains: MatchList;
  private readonly mydestination: MatchList;
  private readonly transportMaps: LookupTable[];
  private readonly relocatedMaps: LookupTable[];
  private readonly senderRelayhostMaps: LookupTable[];
  private readonly senderTransportMaps: LookupTable[];
  private readonly canon: RewriteRules;

  constructor(
    private readonly config: ConfigView,
    tables: TableRegistry,
    private readonly log: Logger,
  ) {
    this.mydestination = new MatchList('mydestination', config.list('mydestination'), tables, domainListStyle(config, 'mydestination'));
    this.local = new LocalDomains(this.mydestination, ownAddresses(config), config.bool('resolve_numeric_domain'));
    this.virtualAliasDomains = new MatchList('virtual_alias_domains', config.list('virtual_alias_domains'), tables, 'exact');
    this.virtualMailboxDomains = new MatchList('virtual_mailbox_domains', config.list('virtual_mailbox_domains'), tables, 'exact');
    this.relayDomains = new MatchList('relay_domains', config.list('relay_domains'), tables, domainListStyle(config, 'relay_domains'));
    this.transportMaps = tables.openList(config.get('transport_maps'));
    this.relocatedMaps = tables.openList(config.get('relocated_maps'));
    this.senderRelayhostMaps = tables.openList(config.get('sender_dependent_relayhost_maps'));
    this.senderTransportMaps = tables.openList(config.get('sender_dependent_default_transport_maps'));
    this.canon = localRewriteRules(config);
  }

  /** Is `domain` ours (resolve_local)? */
  isLocalDomain(domain: string): Promise<boolean> {
    return this.local.isLocal(domain);
  }

  async resolve(address: string, sender = ''): Promise<ResolveResult> {
    const flags = new Set<Flag>();
    try {
      return await this.resolveAddress(address, sender, flags);
    } catch (err) {
      if (!(err instanceof LookupFailure)) {
        this.log.warn(`${err instanceof Error ? err.message : String(err)}`);
      }
      flags.add('fail');
      return { transport: '', nexthop: '', recipient: address, class: 'default', flags: [...flags] };
    }
  }

  private async tryLookup<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      this.log.warn(`${what} lookup failure${err instanceof Error ? `: ${err.message}` : ''}`);
      throw new LookupFailure(what);
    }
  }

  private async resolveAddress(input: string, sender: string, flags: Set<Flag>): Promise<ResolveResult> {
    const c = this.config;
    const percentHack = c.bool('allow_percent_hack');
    const swapBang = c.bool('swap_bangpath');
    const dequoted = c.bool('resolve_dequoted_address');
    const empty = c.get('empty_address_recipient') || 'MAILER-DAEMON';

    let addr = input.trim();
    let savedDomain: string | undefined;
    let remote = false;
    const loopMax = addr.length + 100;

    for (let loop = 0; ; loop++) {
      if (loop > loopMax) {
        this.log.warn(`resolve_addr: <${input}>: giving up after ${loop} iterations`);
        break;
      }
      if (addr === '') addr = rewriteAddress(empty, this.canon);
      // Strip a trailing dot from the domain, but not ".." or "@.".
      if (addr.endsWith('.') && lastUnquoted(addr, '@') >= 0 && !addr.endsWith('..') && !addr.endsWith('@.'))
        addr = addr.slice(0, -1);
      // "user@": with resolve_null_domain, as if no domain was given.
      if (addr.endsWith('@') && c.bool('resolve_null_domain')) addr = addr.slice(0, -1);

      const at = addr.lastIndexOf('@');
      if (at >= 0) {
        const domain = addr.slice(at + 1);
        if (domain === '' || !(await this.tryLookup('mydestination', () => this.local.isLocal(domain)))) {
          remote = true;
          break;
        }
        savedDomain = domain;
        addr = addr.slice(0, at);
      }

      // What is left is a local part: look for routing operators in it.
      const hasAt = addr.includes('@');
      if ((hasAt && dequoted) || (swapBang && addr.includes('!')) || (percentHack && addr.includes('%'))) {
        addr = rewriteAddress(addr, this.canon);
        continue;
      }
      if (addr === '' || addr === '""') addr = empty;
      break;
    }

    if (!remote) addr = `${addr}@${savedDomain ?? c.get('myhostname')}`;
    const at = addr.lastIndexOf('@');
    const rcptDomain = addr.slice(at + 1);
    const numeric = c.bool('resolve_numeric_domain') && validHostAddr(rcptDomain);
    if (rcptDomain.startsWith('[') ? !validHostLiteral(rcptDomain) : !validHostname(rcptDomain) && !numeric)
      flags.add('error');

    // Routing operators in the local part, whatever the local settings.
    const op = addr.search(/[@!%]/);
    if (op >= 0 && addr.slice(op + 1) !== rcptDomain) flags.add('routed');

    const lower = rcptDomain.toLowerCase();
    let cls: AddressClass;
    let channel: string;
    let nexthop: string;
    let blame: string;
    if (remote) {
      if (await this.tryLookup('virtual_alias_domains', () => this.virtualAliasDomains.match(lower))) {
        cls = 'virtual_alias';
        channel = SERVICE.ERROR;
        nexthop = `5.1.1 User unknown${c.bool('show_user_unknown_table_name') ? ' in virtual alias table' : ''}`;
        blame = '';
      } else if (await this.tryLookup('virtual_mailbox_domains', () => this.virtualMailboxDomains.match(lower))) {
        cls = 'virtual_mailbox';
        channel = c.get('virtual_transport');
        nexthop = rcptDomain;
        blame = 'virtual_transport';
      } else {
        if (await this.tryLookup('relay_domains', () => this.relayDomains.match(lower))) {
          cls = 'relay';
          channel = c.get('relay_transport');
          blame = 'relay_transport';
        } else {
          cls = 'default';
          const snd = await this.senderLookup('sender_dependent_default_transport_maps', this.senderTransportMaps, sender);
          channel = snd ?? c.get('default_transport');
          blame = snd ? 'sender_dependent_default_transport_maps' : 'default_transport';
        }
        const relay = await this.senderLookup('sender_dependent_relayhost_maps', this.senderRelayhostMaps, sender);
        nexthop = relay || c.get('relayhost') || rcptDomain;
      }
    } else {
      cls = 'local';
      channel = c.get('local_transport');
      nexthop = rcptDomain;
      blame = 'local_transport';
    }

    // "transport:nexthop" in main.cf overrides the nexthop.
    const main = parseTransport(channel);
    channel = main.transport;
    if (main.nexthop) nexthop = main.nexthop;
    if (channel === '') {
      this.log.warn(`file ${c.configDirectory}/main.cf: parameter ${blame}: null transport is not allowed`);
      flags.add('fail');
      return { transport: '', nexthop: '', recipient: addr, class: cls, flags: [...flags] };
    }

    let entry: TransportEntry = { transport: channel, nexthop };
    if (this.transportMaps.length > 0 && cls !== 'virtual_alias') {
      const found = await this.tryLookup('transport_maps', () =>
        transportLookup(this.transportMaps, addr, {
          delimiters: c.get('recipient_delimiter'),
          parentMatches: c.list('parent_domain_matches_subdomains').includes('transport_maps'),
        }),
      );
      if (found) entry = applyTransport(entry, found, rcptDomain);
    }

    if (this.relocatedMaps.length > 0) {
      const moved = await this.tryLookup('relocated_maps', () => this.findAddress(this.relocatedMaps, addr));
      if (moved !== undefined) entry = { transport: SERVICE.ERROR, nexthop: `5.1.6 User has moved to ${moved}` };
    }

    if (cls === 'local' || cls === 'virtual_alias' || cls === 'virtual_mailbox') flags.add('final');
    return { transport: entry.transport, nexthop: entry.nexthop, recipient: addr, class: cls, flags: [...flags] };
  }

  private async senderLookup(what: string, maps: readonly LookupTable[], sender: string): Promise<string | undefined> {
    if (maps.length === 0) return undefined;
    const nullKey = what === 'sender_dependent_relayhost_maps' ? 'empty_address_relayhost_maps_lookup_key' : 'empty_address_default_transport_maps_lookup_key';
    const key = sender || this.config.get(nullKey) || '<>';
    return this.tryLookup(what, () => this.findAddress(maps, key));
  }

  /** mail_addr_find() with resolve_local() deciding whether bare local parts are tried. */
  async findAddress(maps: readonly LookupTable[], address: string): Promise<string | undefined> {
    const found = await mailAddrFind(maps, address, {
      recipientDelimiter: this.config.get('recipient_delimiter'),
      doubleBounceSender: this.config.get('double_bounce_sender') || undefined,
      isLocalDomain: (domain) => this.isLocalOrOrigin(domain),
    });
    return found?.value.trim();
  }

  private async isLocalOrOrigin(domain: string): Promise<boolean> {
    if (domain.toLowerCase() === this.config.get('myorigin').toLowerCase()) return true;
    return this.local.isLocal(domain);
  }
}

/** The rewrite rules of the `local` context (REWRITE_CANON). */
export function localRewriteRules(config: ConfigView): RewriteRules {
  return {
    swapBangpath: config.bool('swap_bangpath'),
    percentHack: config.bool('allow_percent_hack'),
    appendAtOrigin: config.bool('append_at_myorigin'),
    appendDotDomain: config.bool('append_dot_mydomain'),
    origin: config.get('myorigin'),
    domain: config.get('mydomain'),
  };
}

/** The rewrite rules of the `remote` context: only $remote_header_rewrite_domain is appended. */
export function remoteRewriteRules(config: ConfigView): RewriteRules {
  const domain = config.get('remote_header_rewrite_domain');
  return { ...localRewriteRules(config), origin: domain, domain };
}
