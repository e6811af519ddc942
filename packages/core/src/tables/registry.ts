/**
 * The lookup table registry (Postfix dict_open / mail_dict / maps).
 *
 * open("type:name") returns the table for a spec, one object per resolved
 * spec per registry (so one LMDB environment per file). Built-in types:
 *
 *   lmdb      indexed file NAME.lmdb built by postmap (table-lmdb.ts)
 *   texthash  postmap input file read into memory
 *   regexp    POSIX regular expressions (regexp_table(5))
 *   pcre      Perl-compatible regular expressions (pcre_table(5))
 *   cidr      IPv4/IPv6 networks (cidr_table(5))
 *   inline    inline:{ key=value, ... }
 *   static    static:value, static:{ text }
 *   unix      unix:passwd.byname, unix:group.byname
 *   fail      every lookup fails (tests)
 *
 * Compatibility:
 *   hash:, btree:, dbm:, sdbm:, cdb: open the lmdb table of the same name,
 *     with a one-time notice per type through the logger
 *     ("notice: hash:/etc/postfix/x: using lmdb:/etc/postfix/x ...").
 *   proxy:type:name opens type:name directly: proxymap(8) exists to share
 *     tables between chrooted Postfix processes; in Postern a process opens
 *     its tables itself, so the proxy: prefix is accepted and dropped.
 *
 * Plugins add types with registerType(). Unknown types fail with
 * POSTERN_ERR_TABLE_TYPE listing the supported types.
 */
import type { Logger } from '../contracts/logger.js';
import type { LookupTable, TableFactory, TableRegistry } from '../contracts/table.js';
import { posternError } from '../errors.js';
import { CidrTable } from './table-cidr.js';
import { LmdbTable } from './table-lmdb.js';
import { PatternTable } from './table-regexp.js';
import { FailTable, InlineTable, StaticTable, TexthashTable, UnixTable } from './table-simple.js';
import type { UnixFiles } from './table-simple.js';

/** Postfix file types that Postern serves with lmdb. */
export const LMDB_ALIAS_TYPES: readonly string[] = ['hash', 'btree', 'dbm', 'sdbm', 'cdb'];

export interface TableRegistryOptions {
  log?: Logger;
  /** Alternative passwd/group files for unix: tables (tests). */
  unixFiles?: UnixFiles;
}

/** Splits "type:name" at the first colon; undefined without one. */
export function splitTableSpec(spec: string): { type: string; name: string } | undefined {
  const colon = spec.indexOf(':');
  if (colon <= 0) return undefined;
  return { type: spec.slice(0, colon), name: spec.slice(colon + 1) };
}

/**
 * Resolves compatibility prefixes: proxy:X -> X, hash:/btree:/... -> lmdb:.
 * Returns the resolved type/name and the original type when it was an lmdb alias.
 */
export function resolveTableSpec(spec: string): { type: string; name: string; aliasOf?: string } | undefined {
  let parts = splitTableSpec(spec.trim());
  while (parts && parts.type === 'proxy') parts = splitTableSpec(parts.name);
  if (!parts) return undefined;
  if (LMDB_ALIAS_TYPES.includes(parts.type)) return { type: 'lmdb', name: parts.name, aliasOf: parts.type };
  return parts;
}

/**
 * Splits a parameter value into table specs at commas and whitespace,
 * keeping `{ ... }` groups (inline:{ a=b, c=d }) intact.
 */
export function splitTableList(value: string): string[] {
  const out: string[] = [];
  let cur = '';
  let depth = 0;
  for (const ch of value) {
    if (ch === '{') depth++;
    else if (ch === '}' && depth > 0) depth--;
    if (depth === 0 && (ch === ',' || /\s/.test(ch))) {
      if (cur) out.push(cur);
      cur = '';
      continue;
    }
    cur += ch;
  }
  if (cur) out.push(cur);
  return out;
}

class Registry implements TableRegistry {
  private readonly factories = new Map<string, TableFactory>();
  private readonly cache = new Map<string, LookupTable>();
  private readonly noticed = new Set<string>();

  constructor(private readonly options: TableRegistryOptions) {
    const log = options.log;
    this.factories.set('lmdb', (name, spec) => new LmdbTable(name, spec));
    this.factories.set('texthash', (name, spec) => new TexthashTable(name, spec, log));
    this.factories.set('regexp', (name, spec) => new PatternTable('regexp', name, spec, log));
    this.factories.set('pcre', (name, spec) => new PatternTable('pcre', name, spec, log));
    this.factories.set('cidr', (name, spec) => new CidrTable(name, spec, log));
    this.factories.set('inline', (name, spec) => new InlineTable(name, spec));
    this.factories.set('static', (name, spec) => new StaticTable(name, spec));
    this.factories.set('unix', (name, spec) => new UnixTable(name, spec, options.unixFiles));
    this.factories.set('fail', (name, spec) => new FailTable(name, spec));
  }

  open(spec: string): LookupTable {
    const resolved = resolveTableSpec(spec);
    if (!resolved) throw posternError('POSTERN_ERR_TABLE_OPEN', spec, 'need dictionary_type:dictionary_name format');
    const key = `${resolved.type}:${resolved.name}`;
    if (resolved.aliasOf && !this.noticed.has(resolved.aliasOf)) {
      this.noticed.add(resolved.aliasOf);
      this.options.log?.info(
        `notice: ${resolved.aliasOf}:${resolved.name}: using ${key} (Postern's indexed table type; ` +
          `build it with "postern postmap ${resolved.aliasOf}:${resolved.name}")`,
      );
    }
    const cached = this.cache.get(key);
    if (cached) return cached;
    const factory = this.factories.get(resolved.type);
    if (!factory) throw posternError('POSTERN_ERR_TABLE_TYPE', resolved.type, this.supported().join(' '));
    const table = factory(resolved.name, key, this);
    this.cache.set(key, table);
    return table;
  }

  openList(value: string): LookupTable[] {
    return splitTableList(value).map((spec) => this.open(spec));
  }

  registerType(type: string, factory: TableFactory): void {
    this.factories.set(type, factory);
  }

  types(): string[] {
    return [...this.factories.keys()].sort();
  }

  private supported(): string[] {
    return [...this.types(), ...LMDB_ALIAS_TYPES, 'proxy'].sort();
  }
}

/** Creates a registry with the built-in table types. */
export function createTableRegistry(options: TableRegistryOptions = {}): TableRegistry {
  return new Registry(options);
}
