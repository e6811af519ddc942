/**
 * The domain lists of trivial-rewrite(8) (Postfix's match_list, string_list
 * and domain_list): mydestination, relay_domains, virtual_alias_domains,
 * virtual_mailbox_domains, and resolve_local(): is a domain one of ours,
 * by name or as an [ip] literal of inet_interfaces/proxy_interfaces.
 */
import { readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import type { ConfigView, LookupTable, TableRegistry } from '@postern/core';
import { literalAddress, validHostAddr } from './trivial-rewrite-address.js';

type Item =
  | { readonly negate: boolean; readonly kind: 'text'; readonly text: string }
  | { readonly negate: boolean; readonly kind: 'table'; readonly table: LookupTable };

/** How a plain `example.com` pattern treats subdomains. */
export type MatchStyle =
  /** string_list: the exact string only. */
  | 'exact'
  /** domain_list, dot style: `example.com` is the domain, `.example.com` its subdomains. */
  | 'dot'
  /** domain_list listed in parent_domain_matches_subdomains: `example.com` matches subdomains too. */
  | 'parent';

/** A Postfix list of patterns, `!pattern` exceptions, /file/names and type:table lookups. */
export class DomainList {
  private readonly items: Item[] = [];

  constructor(
    readonly parameter: string,
    patterns: readonly string[],
    tables: TableRegistry,
    readonly style: MatchStyle,
  ) {
    for (const p of patterns) this.add(p, tables, false);
  }

  get empty(): boolean {
    return this.items.length === 0;
  }

  private add(pattern: string, tables: TableRegistry, negate: boolean): void {
    let p = pattern;
    while (p.startsWith('!')) {
      negate = !negate;
      p = p.slice(1);
    }
    if (p === '') return;
    if (p.startsWith('/')) {
      const text = readFileSync(p, 'utf8');
      for (const line of text.split('\n')) {
        const body = line.replace(/#.*/, '');
        for (const word of body.split(/[\s,]+/)) if (word) this.add(word, tables, negate);
      }
      return;
    }
    if (/^[a-z0-9_-]+:/i.test(p) && !p.startsWith('[')) {
      this.items.push({ negate, kind: 'table', table: tables.open(p) });
      return;
    }
    this.items.push({ negate, kind: 'text', text: p.toLowerCase() });
  }

  /** First matching item decides; table failures throw (the caller sets RESOLVE_FLAG_FAIL). */
  async match(name: string): Promise<boolean> {
    const key = name.toLowerCase();
    for (const item of this.items) {
      const hit = item.kind === 'text' ? this.matchText(item.text, key) : await this.matchTable(item.table, key);
      if (hit) return !item.negate;
    }
    return false;
  }

  private matchText(pattern: string, name: string): boolean {
    if (pattern === name) return true;
    if (this.style === 'exact') return false;
    if (pattern.startsWith('.')) return name.endsWith(pattern);
    return this.style === 'parent' && name.endsWith(`.${pattern}`);
  }

  private async matchTable(table: LookupTable, name: string): Promise<boolean> {
    if ((await table.lookup(name)) !== undefined) return true;
    if (table.pattern || this.style === 'exact') return false;
    for (let dot = name.indexOf('.'); dot >= 0; dot = name.indexOf('.', dot + 1)) {
      const parent = this.style === 'parent' ? name.slice(dot + 1) : name.slice(dot);
      if (parent === '' || parent === '.') break;
      if ((await table.lookup(parent)) !== undefined) return true;
    }
    return false;
  }
}

/** Whether `parameter` is listed in parent_domain_matches_subdomains. */
export function parentStyle(config: ConfigView, parameter: string): MatchStyle {
  return config.list('parent_domain_matches_subdomains').includes(parameter) ? 'parent' : 'dot';
}

/** The machine's own addresses for inet_interfaces = all / loopback-only / a list. */
export function ownAddresses(config: ConfigView): Set<string> {
  const own = new Set<string>();
  const add = (a: string) => own.add(normalizeIp(a));
  for (const value of config.list('inet_interfaces')) {
    const v = value.toLowerCase();
    if (v === 'all') {
      for (const list of Object.values(networkInterfaces())) for (const i of list ?? []) add(i.address);
    } else if (v === 'loopback-only') {
      add('127.0.0.1');
      add('::1');
    } else if (v === 'localhost') {
      add('127.0.0.1');
      add('::1');
    } else {
      const bare = v.replace(/^\[|\]$/g, '');
      if (validHostAddr(bare)) add(bare);
    }
  }
  for (const value of config.list('proxy_interfaces')) {
    const bare = value.replace(/^\[|\]$/g, '');
    if (validHostAddr(bare)) add(bare);
  }
  return own;
}

function normalizeIp(address: string): string {
  const a = address.toLowerCase();
  return a.startsWith('::ffff:') && validHostAddr(a.slice(7)) ? a.slice(7) : a;
}

/**
 * resolve_local(): a domain is local when it matches mydestination, or is an
 * [ip] literal (or, with resolve_numeric_domain, a bare ip) of this machine.
 */
export class LocalDomains {
  constructor(
    private readonly mydestination: DomainList,
    private readonly own: ReadonlySet<string>,
    private readonly numericDomains: boolean,
  ) {}

  async isLocal(domain: string): Promise<boolean> {
    let d = domain.toLowerCase();
    if (d.endsWith('.')) d = d.slice(0, -1);
    if (d === '' || d.endsWith('.')) return false;
    if (d.startsWith('[')) {
      const ip = literalAddress(d);
      return ip !== undefined && this.own.has(normalizeIp(ip));
    }
    if (this.numericDomains && validHostAddr(d)) return this.own.has(normalizeIp(d));
    return this.mydestination.match(d);
  }
}
