/**
 * Address-based table lookups: Postfix's maps_find(3), mail_addr_find(3) and
 * mail_addr_map(3).
 *
 * mailAddrFind(tables, address) searches a list of tables with the address
 * and keys derived from it, in this order, until one table answers:
 *
 *   1. user+ext@domain  (all tables, pattern tables included)
 *   2. user@domain      (key tables only; when recipient_delimiter is set
 *                        and the address has an extension)
 *   3. user+ext         (key tables; only when isLocalDomain(domain))
 *   4. user             (key tables; only when isLocalDomain(domain) and the
 *                        address has an extension)
 *   5. @domain          (key tables)
 *
 * Each key is tried in every table before the next key (Postfix's maps_find
 * is key-major). Pattern tables (regexp, pcre, cidr: `pattern: true`) only
 * see the full address, as in Postfix, so a regexp never matches a partial
 * key. An address without `@` is looked up as is (and as user without
 * extension).
 *
 * Query form: the address is given in internal (unquoted) form; each key is
 * first queried in external (quoted, RFC 5322) form, because that is how
 * keys are written in tables, and then in internal form when the two differ
 * (Postfix's MA_FORM_EXTERNAL_FIRST, used by its legacy mail_addr_find()).
 *
 * recipient_delimiter may hold several characters; the local part is split
 * at the first of them (see splitLocalPart for the exceptions).
 *
 * Extension propagation (mailAddrMap, used for canonical and virtual
 * aliasing): when the match was made with the extension stripped, the
 * unmatched extension is re-inserted into every result address before its
 * last `@` (`a+foo@x` with `a@x -> b@y` gives `b+foo@y`), if `propagate` is
 * set (the caller derives it from propagate_unmatched_extensions). A result
 * of the form `@otherdomain` maps to the original local part, without the
 * unmatched extension, in otherdomain; the extension is then propagated like
 * any other result. Unlike Postfix's mail_addr_crunch, results are not
 * canonicalized through trivial-rewrite (a bare `user` result stays bare);
 * the caller rewrites them.
 */
import type { LookupTable } from '@postern/core';
import { quoteLocalPart, splitAddress, stripExtension, unquoteLocalPart } from './address.js';
import type { SplitAddrOptions } from './address.js';
import { tok822SplitList } from './tok822.js';

export interface MapsFindResult {
  readonly value: string;
  /** The table that answered. */
  readonly table: LookupTable;
}

/**
 * Looks `key` up in each table in order; the first table that answers wins
 * (Postfix maps_find). With `partial`, pattern tables are skipped (Postfix
 * DICT_FLAG_FIXED: partial keys must not be matched by regular expressions).
 */
export async function mapsFind(
  tables: readonly LookupTable[],
  key: string,
  options: { partial?: boolean } = {},
): Promise<MapsFindResult | undefined> {
  for (const table of tables) {
    if (options.partial && table.pattern) continue;
    const value = await table.lookup(key);
    if (value !== undefined) return { value, table };
  }
  return undefined;
}

export interface AddrFindOptions extends SplitAddrOptions {
  /** $recipient_delimiter: zero or more delimiter characters ('' disables extensions). */
  recipientDelimiter?: string;
  /**
   * True when `domain` is $myorigin, matches $mydestination, or is an
   * address literal of $inet_interfaces / $proxy_interfaces (Postfix
   * resolve_local). Without it the local-part-only keys are never tried.
   */
  isLocalDomain?: (domain: string) => boolean | Promise<boolean>;
}

export interface AddrFindResult extends MapsFindResult {
  /** The key (in the form queried) that matched. */
  readonly key: string;
  /** The extension, with its delimiter, that had to be stripped to match. */
  readonly extension?: string;
}

async function findForm(
  tables: readonly LookupTable[],
  internalKey: string,
  partial: boolean,
  bareLocalpart: boolean,
): Promise<(MapsFindResult & { key: string }) | undefined> {
  const external = quoteLocalPart(internalKey, { bareLocalpart });
  const hit = await mapsFind(tables, external, { partial });
  if (hit) return { ...hit, key: external };
  if (external === internalKey) return undefined;
  const second = await mapsFind(tables, internalKey, { partial });
  return second ? { ...second, key: internalKey } : undefined;
}

/** Postfix mail_addr_find: see the module header for the lookup order. */
export async function mailAddrFind(
  tables: readonly LookupTable[],
  address: string,
  options: AddrFindOptions = {},
): Promise<AddrFindResult | undefined> {
  const delimiters = options.recipientDelimiter ?? '';
  const stripped = delimiters === '' ? undefined : stripExtension(address, delimiters, options);

  const full = await findForm(tables, address, false, false);
  if (full) return full;
  if (stripped) {
    const bare = await findForm(tables, stripped.stripped, true, false);
    if (bare) return { ...bare, extension: stripped.extension };
  }

  const { local, domain } = splitAddress(address);
  if (domain === undefined) return undefined;

  if (options.isLocalDomain && (await options.isLocalDomain(domain))) {
    const hit = await findForm(tables, local, true, true);
    if (hit) return hit;
    if (stripped) {
      const bareLocal = splitAddress(stripped.stripped).local;
      const bare = await findForm(tables, bareLocal, true, true);
      if (bare) return { ...bare, extension: stripped.extension };
    }
  }

  const atDomain = `@${domain}`;
  const hit = await mapsFind(tables, atDomain, { partial: true });
  return hit ? { ...hit, key: atDomain } : undefined;
}

export interface AddrMapOptions extends AddrFindOptions {
  /** Propagate an unmatched extension into the results (propagate_unmatched_extensions). */
  propagate?: boolean;
}

/** Inserts `extension` before the last `@` of an internal-form address. */
export function propagateExtension(address: string, extension: string): string {
  const at = address.lastIndexOf('@');
  return at < 0 ? address + extension : address.slice(0, at) + extension + address.slice(at);
}

/**
 * Postfix mail_addr_map: the translation of `address` (internal form) as a
 * list of internal-form addresses, or undefined when no table matches. See
 * the module header for `@otherdomain` results and extension propagation.
 */
export async function mailAddrMap(
  tables: readonly LookupTable[],
  address: string,
  options: AddrMapOptions = {},
): Promise<string[] | undefined> {
  const found = await mailAddrFind(tables, address, options);
  if (!found) return undefined;
  let value = found.value;
  if (value.startsWith('@')) {
    let local = splitAddress(address).local;
    if (found.extension) local = local.slice(0, local.length - found.extension.length);
    value = quoteLocalPart(local + value);
  }
  return tok822SplitList(value).map((ext) => {
    const internal = unquoteLocalPart(ext);
    return options.propagate && found.extension ? propagateExtension(internal, found.extension) : internal;
  });
}
