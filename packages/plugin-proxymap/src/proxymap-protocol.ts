/**
 * The proxymap wire protocol (dict_proxy.h): request names and the
 * PROXY_STAT_* completion codes as words, shared by the server (proxymap.ts)
 * and the client table (proxymap-table.ts).
 */

/** Requests (PROXY_REQ_*). The table name is "type:name" without proxy:. */
export const PROXY_METHOD = {
  OPEN: 'open',
  LOOKUP: 'lookup',
  UPDATE: 'update',
  DELETE: 'delete',
  SEQUENCE: 'sequence',
} as const;

/**
 * ok: done; nokey: no such key; retry: the table failed (try later);
 * bad: malformed request; deny: table not approved, or a write on proxymap;
 * config: the table cannot be opened as requested.
 */
export type ProxyStatus = 'ok' | 'nokey' | 'retry' | 'bad' | 'deny' | 'config';

export interface ProxyOpenReply {
  readonly status: ProxyStatus;
  /** The table is queried with the whole string only (regexp, cidr ...). */
  readonly pattern?: boolean;
}

export interface ProxyLookupReply {
  readonly status: ProxyStatus;
  readonly value?: string;
}

export interface ProxySequenceReply {
  readonly status: ProxyStatus;
  /** All entries (Postern returns the whole sequence in one reply). */
  readonly entries?: readonly (readonly [string, string])[];
}

export interface ProxyUpdateReply {
  readonly status: ProxyStatus;
}

/** Strips leading proxy: prefixes, as proxy_map_find() does. */
export function stripProxyPrefix(name: string): string {
  let n = name;
  while (n.startsWith('proxy:')) n = n.slice('proxy:'.length);
  return n;
}
