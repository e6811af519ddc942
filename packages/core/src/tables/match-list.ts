/**
 * Postfix's match_list (string_list, domain_list): a parameter's list of
 * patterns, `!pattern` exceptions, /file/name includes (words, # comments)
 * and type:table lookups, in order; the first that matches decides, and an
 * exception makes that a "no". Plain patterns and lookups ignore case.
 *
 *   string_list  ('exact')   the whole string only
 *   domain_list  ('dot')     `example.com` the domain, `.example.com` its subdomains
 *                ('parent')  the parameter is in parent_domain_matches_subdomains:
 *                            `example.com` matches its subdomains too
 *
 * A domain style table is asked for the name, then (unless it is a pattern
 * table) for each parent domain. A table that cannot answer throws: the
 * caller decides what a failed match means.
 */
import { readFileSync } from 'node:fs';
import type { ConfigView } from '../contracts/config.js';
import type { LookupTable, TableRegistry } from '../contracts/table.js';

type Item =
  | { readonly negate: boolean; readonly kind: 'text'; readonly text: string }
  | { readonly negate: boolean; readonly kind: 'table'; readonly table: LookupTable };

/** How a plain `example.com` pattern treats subdomains. */
export type MatchStyle = 'exact' | 'dot' | 'parent';

/** A table spec (type:name), not an address literal or a plain word. */
const TABLE_SPEC = /^[a-z0-9_-]+:/i;

export class MatchList {
  private readonly items: Item[] = [];

  /**
   * `tables` may be undefined where no table can be opened: type:name is
   * then a plain pattern. A table that cannot be opened throws, unless
   * `onOpenError` takes it (the entry is then left out).
   */
  constructor(
    readonly parameter: string,
    patterns: readonly string[],
    private readonly tables: TableRegistry | undefined,
    readonly style: MatchStyle,
    private readonly onOpenError?: (spec: string, err: Error) => void,
  ) {
    for (const p of patterns) this.add(p, false);
  }

  get empty(): boolean {
    return this.items.length === 0;
  }

  private add(pattern: string, negate: boolean): void {
    let p = pattern;
    while (p.startsWith('!')) {
      negate = !negate;
      p = p.slice(1);
    }
    if (p === '') return;
    if (p.startsWith('/')) {
      for (const line of readFileSync(p, 'utf8').split('\n')) {
        for (const word of line.replace(/#.*/, '').split(/[\s,]+/)) if (word) this.add(word, negate);
      }
      return;
    }
    if (TABLE_SPEC.test(p) && !p.startsWith('[') && this.tables) {
      let table: LookupTable;
      try {
        table = this.tables.open(p);
      } catch (err) {
        if (!this.onOpenError) throw err;
        this.onOpenError(p, err as Error);
        return;
      }
      this.items.push({ negate, kind: 'table', table });
      return;
    }
    this.items.push({ negate, kind: 'text', text: p.toLowerCase() });
  }

  /** Whether `name` matches; table failures throw. */
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

/** A domain list's style: 'parent' when `parameter` is in parent_domain_matches_subdomains. */
export function domainListStyle(config: ConfigView, parameter: string): MatchStyle {
  return config.list('parent_domain_matches_subdomains').includes(parameter) ? 'parent' : 'dot';
}
