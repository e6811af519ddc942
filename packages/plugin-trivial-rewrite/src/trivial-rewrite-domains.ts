/**
 * resolve_local() of trivial-rewrite(8): is a domain one of ours, by name
 * (mydestination, a core MatchList) or as an [ip] literal of
 * inet_interfaces/proxy_interfaces.
 */
import { networkInterfaces } from 'node:os';
import type { ConfigView, MatchList } from '@postern/core';
import { literalAddress, validHostAddr } from './trivial-rewrite-address.js';

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
    private readonly mydestination: MatchList,
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
