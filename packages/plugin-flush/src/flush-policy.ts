/**
 * flush(8)'s eligibility policy: a destination has a fast flush log only when
 * it matches fast_flush_domains (default $relay_domains), a Postfix domain
 * list: names (with `.name` for subdomains, and plain `name` matching its
 * subdomains too while fast_flush_domains is listed in
 * parent_domain_matches_subdomains, the default), `!name` exceptions,
 * /file/name lists and type:table lookups. The first match decides.
 */
import { readFileSync } from 'node:fs';
import type { ConfigView, LookupTable, TableRegistry } from '@postern/core';

type Item = { readonly negate: boolean } & ({ readonly text: string } | { readonly table: LookupTable });

export class FlushPolicy {
  private readonly items: Item[] = [];
  private readonly parentStyle: boolean;

  constructor(config: ConfigView, tables: TableRegistry | undefined, parameter = 'fast_flush_domains') {
    this.parentStyle = config.list('parent_domain_matches_subdomains').includes(parameter);
    for (const p of config.list(parameter)) this.add(p, tables, false);
  }

  private add(pattern: string, tables: TableRegistry | undefined, negate: boolean): void {
    let p = pattern;
    while (p.startsWith('!')) {
      negate = !negate;
      p = p.slice(1);
    }
    if (p === '') return;
    if (p.startsWith('/')) {
      for (const line of readFileSync(p, 'utf8').split('\n')) {
        for (const word of line.replace(/#.*/, '').split(/[\s,]+/)) if (word) this.add(word, tables, negate);
      }
      return;
    }
    if (/^[a-z0-9_-]+:/i.test(p) && tables) {
      this.items.push({ negate, table: tables.open(p) });
      return;
    }
    this.items.push({ negate, text: p.toLowerCase() });
  }

  /** True when `site` may have a fast flush log. */
  async match(site: string): Promise<boolean> {
    const name = site.toLowerCase();
    for (const item of this.items) {
      const hit = 'text' in item ? this.matchText(item.text, name) : await this.matchTable(item.table, name);
      if (hit) return !item.negate;
    }
    return false;
  }

  private matchText(pattern: string, name: string): boolean {
    if (pattern === name) return true;
    if (pattern.startsWith('.')) return name.endsWith(pattern);
    return this.parentStyle && name.endsWith(`.${pattern}`);
  }

  private async matchTable(table: LookupTable, name: string): Promise<boolean> {
    if ((await table.lookup(name)) !== undefined) return true;
    if (table.pattern) return false;
    for (let dot = name.indexOf('.'); dot >= 0; dot = name.indexOf('.', dot + 1)) {
      const parent = this.parentStyle ? name.slice(dot + 1) : name.slice(dot);
      if (parent === '' || parent === '.') break;
      if ((await table.lookup(parent)) !== undefined) return true;
    }
    return false;
  }
}
