/**
 * Client address matching (Postfix's namadr_list / match_list for
 * mynetworks-style patterns) and the mynetworks default from
 * mynetworks_style (host, subnet, class).
 */
import { BlockList, isIP, isIPv4 } from 'node:net';
import { networkInterfaces } from 'node:os';
import type { ConfigView, TableRegistry } from '@postern/core';

/** "::ffff:1.2.3.4" -> "1.2.3.4"; IPv6 lower-case. */
export function normalizeAddress(address: string): string {
  const a = address.replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/i, '$1');
  return a.toLowerCase();
}

export interface NetworkMatcher {
  /** True when `address` (and, for name patterns, `name`) matches. */
  match(address: string, name?: string): Promise<boolean>;
  readonly patterns: readonly string[];
}

/**
 * A matcher for a mynetworks-style list: CIDR blocks (1.2.3.0/24,
 * [2001:db8::]/32), bare addresses, !negation, domain names (.domain matches
 * subdomains, as with parent_domain_matches_subdomains) and type:table
 * lookups of the client address.
 */
export function networkMatcher(patterns: readonly string[], tables?: TableRegistry): NetworkMatcher {
  type Item = { negate: boolean; test: (addr: string, name?: string) => Promise<boolean> };
  const items: Item[] = [];
  let lookups = false;
  for (let raw of patterns) {
    let negate = false;
    while (raw.startsWith('!')) {
      negate = !negate;
      raw = raw.slice(1);
    }
    const p = raw.replace(/^\[([^\]]+)\](\/\d+)?$/, '$1$2');
    const slash = p.lastIndexOf('/');
    const host = slash > 0 ? p.slice(0, slash) : p;
    const fam = isIP(host);
    if (fam) {
      const bl = new BlockList();
      const type = fam === 4 ? 'ipv4' : 'ipv6';
      const prefix = slash > 0 ? Number(p.slice(slash + 1)) : fam === 4 ? 32 : 128;
      bl.addSubnet(host, prefix, type);
      items.push({
        negate,
        test: async (addr) => {
          const f = isIP(addr);
          if (!f) return false;
          try {
            return bl.check(addr, f === 4 ? 'ipv4' : 'ipv6');
          } catch {
            return false;
          }
        },
      });
    } else if (/^[a-z0-9-]+:/i.test(raw) && !raw.startsWith('/')) {
      if (!tables) continue;
      const table = tables.open(raw);
      lookups = true;
      items.push({ negate, test: async (addr) => (await table.lookup(addr)) !== undefined });
    } else {
      const pat = raw.toLowerCase();
      items.push({
        negate,
        test: async (_addr, name) => {
          if (!name || name === 'unknown') return false;
          const n = name.toLowerCase();
          return n === pat || (pat.startsWith('.') ? n.endsWith(pat) : n.endsWith(`.${pat}`));
        },
      });
    }
  }
  // Without tables the answer depends on the address and name alone: remember it
  // (BlockList.check builds a SocketAddress per call; a client asks for every command).
  const cache = lookups ? undefined : new Map<string, boolean>();
  return {
    patterns,
    async match(address, name) {
      const key = `${address}\0${name ?? ''}`;
      const known = cache?.get(key);
      if (known !== undefined) return known;
      const addr = normalizeAddress(address);
      let found = false;
      for (const it of items) {
        if (await it.test(addr, name)) {
          found = !it.negate;
          break;
        }
      }
      if (cache) {
        if (cache.size >= PEER_CACHE_LIMIT) cache.clear();
        cache.set(key, found);
      }
      return found;
    },
  };
}

/** Answers a peer list remembers (they are cheap to recompute after a clear). */
const PEER_CACHE_LIMIT = 4096;

function v4Mask(bits: number): number {
  return bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
}
function v4ToInt(a: string): number {
  return a.split('.').reduce((n, o) => ((n << 8) | Number(o)) >>> 0, 0);
}
function intToV4(n: number): string {
  return [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.');
}

/** Postfix's mynetworks default (mynetworks.c): from mynetworks_style and the interfaces. */
export function defaultMynetworks(style: string): string[] {
  const out: string[] = [];
  for (const list of Object.values(networkInterfaces())) {
    for (const ifa of list ?? []) {
      if (isIPv4(ifa.address)) {
        let bits = style === 'host' ? 32 : Number(ifa.cidr?.split('/')[1] ?? 32);
        if (style === 'class') {
          const first = Number(ifa.address.split('.')[0]);
          bits = first < 128 ? 8 : first < 192 ? 16 : first < 224 ? 24 : 32;
        }
        const net = intToV4(v4ToInt(ifa.address) & v4Mask(bits));
        out.push(`${net}/${bits}`);
      } else {
        const bits = style === 'host' ? 128 : Number(ifa.cidr?.split('/')[1] ?? 128);
        const net = style === 'host' ? ifa.address : (ifa.cidr?.split('/')[0] ?? ifa.address);
        out.push(`[${net.replace(/%.*$/, '')}]/${bits}`);
      }
    }
  }
  return [...new Set(out)];
}

/** The effective mynetworks list of this configuration. */
export function mynetworksList(config: ConfigView): string[] {
  const v = config.list('mynetworks');
  if (v.length > 0 || config.isSet('mynetworks')) return v;
  return defaultMynetworks(config.get('mynetworks_style') || 'host');
}
