/**
 * The client side of proxymap(8) (Postfix's dict_proxy.c): a LookupTable
 * whose lookups cross the proxymap socket, and with write access the
 * proxywrite socket. `proxyTableFactory(clients)` is a TableFactory for the
 * "proxy" type: registered in a table registry, it makes proxy:type:name
 * go through the service instead of opening type:name in the process.
 */
import {
  posternError,
  type ServiceClients,
  type IpcClient,
  type LookupTable,
  type TableFactory,
} from '@postern/core';
import {
  PROXY_METHOD,
  stripProxyPrefix,
  type ProxyLookupReply,
  type ProxySequenceReply,
  type ProxyStatus,
  type ProxyUpdateReply,
} from './proxymap-protocol.js';

/** Table types queried with the whole string only (DICT_FLAG_PATTERN). */
const PATTERN_TYPES: ReadonlySet<string> = new Set(['regexp', 'pcre', 'cidr']);

const WHY: Readonly<Record<ProxyStatus, string>> = {
  ok: 'success',
  nokey: 'no such key',
  retry: 'table lookup failed in the proxymap service',
  bad: 'invalid request',
  deny: 'table not approved for proxy access (see proxy_read_maps, proxy_write_maps)',
  config: 'table cannot be used as requested',
};

export class ProxyTable implements LookupTable {
  readonly type = 'proxy';
  readonly spec: string;
  readonly pattern: boolean;
  /** type:name as the service sees it. */
  readonly table: string;

  constructor(name: string, private readonly client: IpcClient, writable: boolean) {
    this.table = stripProxyPrefix(name);
    this.spec = `proxy:${this.table}`;
    this.pattern = PATTERN_TYPES.has(this.table.slice(0, this.table.indexOf(':')));
    if (!writable) {
      this.update = undefined;
      this.delete = undefined;
    }
  }

  private fail(status: ProxyStatus): never {
    throw posternError('POSTERN_ERR_TABLE_LOOKUP', this.spec, WHY[status] ?? status);
  }

  async lookup(key: string): Promise<string | undefined> {
    const r = await this.client.call<ProxyLookupReply>(PROXY_METHOD.LOOKUP, { table: this.table, key });
    if (r.status === 'ok') return r.value ?? '';
    if (r.status === 'nokey') return undefined;
    return this.fail(r.status);
  }

  update?: (key: string, value: string) => Promise<void> = async (key, value) => {
    const r = await this.client.call<ProxyUpdateReply>(PROXY_METHOD.UPDATE, { table: this.table, key, value });
    if (r.status !== 'ok') this.fail(r.status);
  };

  delete?: (key: string) => Promise<boolean> = async (key) => {
    const r = await this.client.call<ProxyUpdateReply>(PROXY_METHOD.DELETE, { table: this.table, key });
    if (r.status === 'ok') return true;
    if (r.status === 'nokey') return false;
    return this.fail(r.status);
  };

  async *entries(): AsyncIterable<readonly [string, string]> {
    const r = await this.client.call<ProxySequenceReply>(PROXY_METHOD.SEQUENCE, { table: this.table });
    if (r.status !== 'ok') this.fail(r.status);
    for (const e of r.entries ?? []) yield [e[0], e[1]] as const;
  }
}

export interface ProxyTableOptions {
  /** O_RDWR: go through proxywrite (lookups too, as dict_proxy does) and allow update/delete. */
  readonly write?: boolean;
}

/**
 * A TableFactory for the "proxy" type: the name is type:name (or
 * proxy:type:name); read-only tables use $proxymap_service_name, writable
 * ones $proxywrite_service_name.
 */
export function proxyTableFactory(clients: ServiceClients, options: ProxyTableOptions = {}): TableFactory {
  return (name) => {
    const service = clients.config.get(options.write ? 'proxywrite_service_name' : 'proxymap_service_name');
    return new ProxyTable(name, clients.client(service), options.write === true);
  };
}
