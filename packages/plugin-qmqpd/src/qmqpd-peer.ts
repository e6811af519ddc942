/**
 * The client's name and address (Postfix's qmqpd_peer.c), and the
 * qmqpd_authorized_clients match list (namadr_list(3)): network/mask
 * ("127.0.0.0/8", "[::1]/128"), addresses, host names, domains (a parent
 * domain matches its subdomains, as parent_domain_matches_subdomains lists
 * qmqpd_authorized_clients by default; ".example.com" matches only
 * subdomains), /file/name (more patterns, one or more a line), type:table
 * (a client name or address found in the table matches), and "!pattern" to
 * exclude. The first pattern that matches decides; no match: not authorized.
 */
import { readFileSync } from 'node:fs';
import { promises as dns } from 'node:dns';
import { BlockList, isIP } from 'node:net';
import type { TableRegistry } from '@postern/core';

export interface Peer {
  /** Verified host name, or "unknown". */
  readonly name: string;
  readonly address: string;
  readonly port: number;
  /** "name[address]" (":port" with qmqpd_client_port_logging). */
  readonly namaddr: string;
}

/** The plain address of a socket's remote end (IPv4-mapped IPv6 unwrapped). */
export function plainAddress(address: string): string {
  return address.toLowerCase().startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}

const withTimeout = <T>(p: Promise<T>, ms: number): Promise<T | undefined> =>
  Promise.race([p.catch(() => undefined), new Promise<undefined>((r) => setTimeout(() => r(undefined), ms).unref())]);

/**
 * The client's host name, forward-confirmed (the name must resolve back to
 * the address), else "unknown", as Postfix's peer lookups.
 */
export async function peerName(address: string, timeoutMs = 10_000): Promise<string> {
  const found = await withTimeout(dns.lookupService(address, 0), timeoutMs);
  const name = found?.hostname;
  if (!name || isIP(name)) return 'unknown';
  const back = await withTimeout(dns.lookup(name, { all: true }), timeoutMs);
  return back?.some((a) => plainAddress(a.address) === address) ? name : 'unknown';
}

type Matcher = (peer: Peer) => Promise<boolean>;

function cidr(pattern: string): BlockList | undefined {
  const m = /^\[?([^\]/]+)\]?(?:\/(\d+))?$/.exec(pattern);
  if (!m) return undefined;
  const addr = m[1]!;
  const family = isIP(addr);
  if (family === 0) return undefined;
  const type = family === 6 ? 'ipv6' : 'ipv4';
  const list = new BlockList();
  if (m[2] === undefined) list.addAddress(addr, type);
  else {
    const bits = Number(m[2]);
    if (bits > (family === 6 ? 128 : 32)) return undefined;
    list.addSubnet(addr, bits, type);
  }
  return list;
}

function hostMatcher(pattern: string): Matcher {
  const p = pattern.toLowerCase();
  return async (peer) => {
    const name = peer.name.toLowerCase();
    if (name === 'unknown') return false;
    if (p.startsWith('.')) return name.endsWith(p);
    return name === p || name.endsWith(`.${p}`);
  };
}

/** The matcher of one pattern (without its "!"). */
function patternMatcher(pattern: string, tables: () => TableRegistry): Matcher[] {
  if (pattern.startsWith('/')) {
    const items = readFileSync(pattern, 'utf8')
      .split('\n')
      .map((l) => l.replace(/#.*/, '').trim())
      .flatMap((l) => l.split(/[\s,]+/))
      .filter(Boolean);
    return items.flatMap((i) => patternMatcher(i, tables));
  }
  if (/^[a-z][\w-]*:/i.test(pattern) && !pattern.startsWith('[')) {
    let table: ReturnType<TableRegistry['open']> | undefined;
    return [
      async (peer) => {
        table ??= tables().open(pattern);
        for (const key of [peer.name, peer.address]) if ((await table.lookup(key)) !== undefined) return true;
        return false;
      },
    ];
  }
  const net = cidr(pattern);
  if (net) {
    return [async (peer) => net.check(peer.address, isIP(peer.address) === 6 ? 'ipv6' : 'ipv4')];
  }
  return [hostMatcher(pattern)];
}

/** The match list of `patterns`: resolves true when the client is authorized. */
export function clientList(patterns: readonly string[], tables: () => TableRegistry): (peer: Peer) => Promise<boolean> {
  const rules: { negate: boolean; match: Matcher }[] = [];
  for (const raw of patterns) {
    const negate = raw.startsWith('!');
    for (const match of patternMatcher(negate ? raw.slice(1) : raw, tables)) rules.push({ negate, match });
  }
  return async (peer) => {
    if (!isIP(peer.address)) return false;
    for (const r of rules) if (await r.match(peer)) return !r.negate;
    return false;
  };
}
