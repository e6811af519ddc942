/**
 * postscreen_access_list (postscreen_dict.c, psc_acl_eval): a list of
 * permit_mynetworks and type:table lookups of the client address (cidr:
 * tables in practice), evaluated left to right until one says permit,
 * reject (the client is allow- or denylisted) or dunno (go on). Addresses
 * only: postscreen never looks up client names.
 */
import { BlockList, isIP } from 'node:net';
import type { Logger, LookupTable, TableRegistry } from '@postern/core';

export type AclAction = 'permit' | 'reject' | 'dunno';

/** An address list of mynetworks style: addresses, CIDR blocks ([v6]/n too), !negation, tables. */
export class AddressList {
  private readonly items: { negate: boolean; test: (a: string) => Promise<boolean> }[] = [];

  constructor(patterns: readonly string[], tables: TableRegistry | undefined, log: Logger, what: string) {
    for (let raw of patterns) {
      let negate = false;
      while (raw.startsWith('!')) {
        negate = !negate;
        raw = raw.slice(1);
      }
      if (raw === 'static:all') {
        this.items.push({ negate, test: async () => true });
        continue;
      }
      const p = raw.replace(/^\[([^\]]+)\](\/\d+)?$/, '$1$2');
      const slash = p.lastIndexOf('/');
      const host = slash > 0 ? p.slice(0, slash) : p;
      const fam = isIP(host);
      if (fam) {
        const bl = new BlockList();
        const type = fam === 4 ? 'ipv4' : 'ipv6';
        bl.addSubnet(host, slash > 0 ? Number(p.slice(slash + 1)) : fam === 4 ? 32 : 128, type);
        this.items.push({ negate, test: async (a) => isIP(a) === fam && bl.check(a, type) });
      } else if (/^[a-z0-9-]+:/i.test(raw) && tables) {
        const table = tables.open(raw);
        this.items.push({ negate, test: async (a) => (await table.lookup(a)) !== undefined });
      } else {
        log.warn(`${what}: ignoring pattern "${raw}": postscreen matches client addresses only`);
      }
    }
  }

  async match(address: string): Promise<boolean> {
    for (const i of this.items) if (await i.test(address)) return !i.negate;
    return false;
  }
}

export class AccessList {
  private readonly steps: ({ kind: 'mynetworks' } | { kind: 'table'; table: LookupTable })[] = [];

  constructor(
    entries: readonly string[],
    private readonly mynetworks: AddressList,
    tables: TableRegistry | undefined,
    private readonly log: Logger,
  ) {
    for (const e of entries) {
      if (e.toLowerCase() === 'permit_mynetworks') this.steps.push({ kind: 'mynetworks' });
      else if (/^[a-z0-9-]+:/i.test(e) && tables) this.steps.push({ kind: 'table', table: tables.open(e) });
      else log.warn(`postscreen_access_list: unknown item "${e}"`);
    }
  }

  /** psc_acl_eval: the first permit/reject decides; a table lookup error is logged and reads as dunno. */
  async evaluate(address: string): Promise<AclAction> {
    for (const s of this.steps) {
      if (s.kind === 'mynetworks') {
        if (await this.mynetworks.match(address)) return 'permit';
        continue;
      }
      let value: string | undefined;
      try {
        value = await s.table.lookup(address);
      } catch (err) {
        this.log.warn(`postscreen_access_list: ${s.table.spec} lookup error for ${address}: ${(err as Error).message}`);
        return 'dunno';
      }
      if (value === undefined) continue;
      const word = value.trim().split(/\s+/)[0]!.toLowerCase();
      if (word === 'permit' || word === 'reject') return word;
      if (word !== 'dunno') this.log.warn(`postscreen_access_list: ${s.table.spec}: unknown action "${value}" for ${address}`);
    }
    return 'dunno';
  }
}
