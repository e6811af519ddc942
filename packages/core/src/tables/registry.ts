/**
 * The lookup table registry (Postfix dict_open / mail_dict / maps).
 *
 * open("type:name") returns the table for a spec, one object per resolved
 * spec per registry (so one LMDB environment per file). Core knows no table
 * type itself: the types come from the packages that declare them
 * (PluginDefinition.tables; @postern/tables declares Postfix's built-in
 * ones: lmdb, texthash, regexp, pcre, cidr, inline, static, unix, fail), so
 * a `redis:` or `socketmap:` type is one more package.
 *
 * Compatibility:
 *   hash:, btree:, dbm:, sdbm:, cdb: open the lmdb table of the same name,
 *     with a one-time notice per type through the logger
 *     ("notice: hash:/etc/postfix/x: using lmdb:/etc/postfix/x ...").
 *   proxy:type:name opens type:name directly: proxymap(8) exists to share
 *     tables between chrooted Postfix processes; in Postern a process opens
 *     its tables itself, so the proxy: prefix is accepted and dropped.
 *
 * Unknown types fail with POSTERN_ERR_TABLE_TYPE listing the supported types.
 */
import type { Logger } from '../contracts/logger.js';
import type { LookupTable, TableFactory, TableRegistry } from '../contracts/table.js';
import { posternError } from '../errors.js';
import { splitList } from '../config/view.js';

/** Postfix file types that Postern serves with lmdb. */
export const LMDB_ALIAS_TYPES: readonly string[] = ['hash', 'btree', 'dbm', 'sdbm', 'cdb'];

export interface TableRegistryOptions {
  log?: Logger;
  /** type -> factory (the `tables` of the installed packages' declarations). */
  types?: Readonly<Record<string, TableFactory>>;
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
 * keeping `{ ... }` groups (inline:{ a=b, c=d }, regexp:{ {/a b/ c}, {/d/ e} })
 * intact: the parameter list splitter, splitList.
 */
export function splitTableList(value: string): string[] {
  return splitList(value);
}

class Registry implements TableRegistry {
  private readonly factories = new Map<string, TableFactory>();
  private readonly cache = new Map<string, LookupTable>();
  private readonly noticed = new Set<string>();

  constructor(private readonly options: TableRegistryOptions) {
    for (const [type, factory] of Object.entries(options.types ?? {})) this.factories.set(type, factory);
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
    const table = factory(resolved.name, key, this, this.options.log);
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

/** Creates a registry with the given table types (see tableTypes() for the installed packages'). */
export function newTableRegistry(options: TableRegistryOptions = {}): TableRegistry {
  return new Registry(options);
}
