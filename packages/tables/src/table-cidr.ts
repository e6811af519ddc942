/**
 * cidr: tables (Postfix dict_cidr, cidr_table(5)).
 *
 *   network/prefix  result     match addresses in the network
 *   address         result     match one address
 *   !network/prefix result     match addresses outside the network
 *   if [!]network/prefix ... endif   (nesting allowed)
 * Addresses may be IPv4 or IPv6, optionally enclosed in `[]`. 0.0.0.0/0
 * matches every IPv4 address, ::/0 every IPv6 address; an IPv4 rule never
 * matches an IPv6 key and vice versa. A network with host bits set is
 * skipped with Postfix's warning. Rules apply in file order; first match
 * wins. Keys that are not IP addresses match no rule except negated ones.
 * Inline form (Postfix 3.7): `cidr:{ {10.0.0.0/8 OK}, {::1 OK} }`, each
 * rule one line of the table (table-stream.ts).
 */
import { isIPv4, isIPv6 } from 'node:net';
import type { Logger } from '@postern/core';
import type { LookupTable } from '@postern/core';
import { openTableSource } from './table-stream.js';
import type { TableSource } from './table-stream.js';
import { logicalLines, reportDiagnostic, tableDiagnostic } from './table-source.js';
import type { DiagnosticHandler } from './table-source.js';

/** Parses an IPv4 or IPv6 address into bytes (4 or 16), or undefined. */
export function parseIp(text: string): Uint8Array | undefined {
  let addr = text;
  const pct = addr.indexOf('%');
  if (pct >= 0 && addr.includes(':')) addr = addr.slice(0, pct);
  if (isIPv4(addr)) return Uint8Array.from(addr.split('.').map(Number));
  if (!isIPv6(addr)) return undefined;
  let head = addr;
  let v4tail: number[] = [];
  const lastColon = addr.lastIndexOf(':');
  if (addr.slice(lastColon + 1).includes('.')) {
    v4tail = addr.slice(lastColon + 1).split('.').map(Number);
    head = addr.slice(0, lastColon + 1) + '0:0';
  }
  const [left, right] = head.includes('::') ? head.split('::') : [head, undefined];
  const l = left ? left.split(':') : [];
  const r = right === undefined ? [] : right ? right.split(':') : [];
  const fill = right === undefined ? 0 : 8 - l.length - r.length;
  const words = [...l, ...Array<string>(fill).fill('0'), ...r].map((w) => parseInt(w, 16));
  const bytes = new Uint8Array(16);
  words.forEach((w, k) => {
    bytes[2 * k] = w >> 8;
    bytes[2 * k + 1] = w & 0xff;
  });
  if (v4tail.length === 4) bytes.set(v4tail, 12);
  return bytes;
}

function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return Array.from(bytes).join('.');
  const words: string[] = [];
  for (let k = 0; k < 16; k += 2) words.push(((bytes[k]! << 8) | bytes[k + 1]!).toString(16));
  return words.join(':');
}

interface Network {
  readonly bytes: Uint8Array;
  readonly prefix: number;
}

function inNetwork(addr: Uint8Array, net: Network): boolean {
  if (addr.length !== net.bytes.length) return false;
  let bits = net.prefix;
  for (let k = 0; bits > 0; k++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((addr[k]! & mask) !== (net.bytes[k]! & mask)) return false;
  }
  return true;
}

export interface CidrRule {
  readonly kind: 'match' | 'if' | 'endif';
  readonly line: number;
  readonly net?: Network;
  readonly negate?: boolean;
  readonly result?: string;
  end?: number;
}

function parseNetwork(text: string): { net?: Network; error?: string } {
  let spec = text;
  if (spec.startsWith('[')) {
    const close = spec.indexOf(']');
    if (close < 0) return { error: `bad net/mask pattern: "${text}"` };
    spec = spec.slice(1, close) + spec.slice(close + 1);
  }
  const slash = spec.indexOf('/');
  const addrText = slash < 0 ? spec : spec.slice(0, slash);
  const bytes = parseIp(addrText);
  if (!bytes) return { error: `bad address pattern: "${text}"` };
  const max = bytes.length * 8;
  let prefix = max;
  if (slash >= 0) {
    const p = spec.slice(slash + 1);
    if (!/^\d+$/.test(p) || Number(p) > max) return { error: `bad net/mask pattern: "${text}"` };
    prefix = Number(p);
  }
  const net = { bytes, prefix };
  const masked = Uint8Array.from(bytes, (b, k) => {
    const bits = prefix - 8 * k;
    return bits >= 8 ? b : bits <= 0 ? 0 : b & ((0xff << (8 - bits)) & 0xff);
  });
  if (masked.some((b, k) => b !== bytes[k]))
    return {
      error: `non-null host address bits in "${text}", perhaps you should use "${formatIp(masked)}/${prefix}" instead`,
    };
  return { net };
}

/** Parses a cidr table file; bad rules are reported and skipped. */
export function parseCidrTable(text: string, file: string, onDiagnostic?: DiagnosticHandler): CidrRule[] {
  const label = `cidr map ${file}`;
  const rules: CidrRule[] = [];
  const open: CidrRule[] = [];
  const warn = (line: number, msg: string, reject = true): void =>
    reportDiagnostic(tableDiagnostic(label, line, msg, reject), onDiagnostic);
  for (const { text: raw, line } of logicalLines(text)) {
    const stmt = raw.trim();
    if (/^endif$/i.test(stmt)) {
      const begin = open.pop();
      if (!begin) {
        warn(line, 'ignoring ENDIF without matching IF');
        continue;
      }
      begin.end = rules.length;
      rules.push({ kind: 'endif', line });
      continue;
    }
    const isIf = /^if\s/i.test(stmt);
    let body = isIf ? stmt.slice(2).trim() : stmt;
    let negate = false;
    if (body.startsWith('!')) {
      negate = true;
      body = body.slice(1);
    }
    const m = /^(\S+)\s*(.*)$/s.exec(body);
    if (!m) {
      warn(line, 'ignoring unrecognized request');
      continue;
    }
    const { net, error } = parseNetwork(m[1]!);
    if (!net) {
      warn(line, `${error}: skipping this rule`);
      continue;
    }
    const rest = m[2]!.trim();
    if (isIf) {
      if (rest !== '') warn(line, `ignoring extra text after IF statement: "${rest}"`, false);
      const rule: CidrRule = { kind: 'if', line, net, negate };
      rules.push(rule);
      open.push(rule);
      continue;
    }
    if (rest === '') {
      warn(line, 'no lookup result: skipping this rule');
      continue;
    }
    rules.push({ kind: 'match', line, net, negate, result: rest });
  }
  for (const rule of open) {
    warn(rule.line, 'IF has no matching ENDIF', false);
    rule.end = rules.length;
  }
  return rules;
}

/** Evaluates cidr rules for `key` (an IP address string). */
export function evalCidrRules(rules: readonly CidrRule[], key: string): string | undefined {
  let k = key;
  if (k.startsWith('[') && k.endsWith(']')) k = k.slice(1, -1);
  if (k.toLowerCase().startsWith('ipv6:')) k = k.slice(5);
  const addr = parseIp(k);
  for (let i = 0; i < rules.length; i++) {
    const rule = rules[i]!;
    if (rule.kind === 'endif') continue;
    const inside = addr !== undefined && inNetwork(addr, rule.net!);
    const hit = rule.negate ? !inside : inside;
    if (rule.kind === 'if') {
      if (!hit) i = rule.end!;
      continue;
    }
    if (hit) return rule.result;
  }
  return undefined;
}

/** A cidr: table over a file (reloaded when it changes) or inline rules (cidr:{ {rule}, ... }). */
export class CidrTable implements LookupTable {
  readonly type = 'cidr';
  readonly pattern = true;
  private rules: CidrRule[] = [];
  private readonly source: TableSource;

  constructor(
    readonly name: string,
    readonly spec: string,
    private readonly log?: Logger,
  ) {
    this.source = openTableSource('cidr', spec, name, (text) => {
      this.rules = parseCidrTable(text, name, (d) => this.log?.warn(d.text));
    });
  }

  async lookup(key: string): Promise<string | undefined> {
    await this.source.refresh();
    return evalCidrRules(this.rules, key);
  }
}
