/**
 * proxymap(8) - Postfix lookup table proxy server
 *
 * SYNOPSIS
 *   master.cf:  proxymap   unix - - n - - proxymap
 *               proxywrite unix - - n - 1 proxymap
 *
 * DESCRIPTION
 *   Opens lookup tables by name on behalf of other processes and answers
 *   their requests, so that one open table (one database connection, one
 *   single writer for a file) serves the whole mail system. Clients name a
 *   table as proxy:type:name in main.cf; the request carries type:name.
 *
 *   The service runs under two names: proxymap answers read-only requests
 *   for the tables listed (with the proxy: prefix) in proxy_read_maps;
 *   proxywrite also updates and deletes, for the tables listed in
 *   proxy_write_maps. Any other service name is a fatal configuration error.
 *
 * PROTOCOL
 *   IPC calls (dict_proxy.h requests), each with { table: "type:name", ... }:
 *     open      -> { status, pattern }
 *     lookup    { key }        -> { status, value }
 *     update    { key, value } -> { status }      (proxywrite only)
 *     delete    { key }        -> { status }      (proxywrite only)
 *     sequence                 -> { status, entries }
 *   status is ok, nokey, retry (the table failed), bad (malformed request),
 *   deny (table not approved; write request on proxymap) or config (the
 *   table type cannot be written).
 *
 * CONFIGURATION PARAMETERS
 *   proxy_read_maps          (the $..._maps list of Postfix) tables proxymap may open
 *   proxy_write_maps         ($smtp_sasl_auth_cache_name $lmtp_sasl_auth_cache_name
 *                             $address_verify_map $postscreen_cache_map)
 *   proxymap_service_name    (proxymap)
 *   proxywrite_service_name  (proxywrite)
 *
 * DIAGNOSTICS
 *   warning: request for unapproved table: "hash:/etc/x"
 *   warning: to approve this table for read-only access, list proxy:hash:/etc/x in main.cf:proxy_read_maps
 *   warning: refusing hash:/etc/x update request on non-proxywrite service
 *
 * SECURITY
 *   Only pre-approved tables are opened: a client cannot make proxymap read
 *   arbitrary files. The approved list is fixed when the service starts.
 */
import { posternError, serveIpc, TABLES, use, type Logger, type LookupTable, type ServiceMain, type TableRegistry } from '@postern/core';
import {
  PROXY_METHOD,
  stripProxyPrefix,
  type ProxyLookupReply,
  type ProxyOpenReply,
  type ProxySequenceReply,
  type ProxyStatus,
  type ProxyUpdateReply,
} from './proxymap-protocol.js';

/**
 * The approved tables of a proxy_read_maps / proxy_write_maps value: every
 * word that starts with proxy: (the prefix removed, repeated prefixes too)
 * and names a type:name. Words are separated by commas and white space;
 * braces ({ ... } of inline: tables) keep their content together.
 */
export function approvedTables(value: string): Set<string> {
  const out = new Set<string>();
  for (const word of splitWords(value)) {
    if (!word.startsWith('proxy:')) continue;
    const name = stripProxyPrefix(word);
    if (name.includes(':')) out.add(name);
  }
  return out;
}

function splitWords(value: string): string[] {
  const words: string[] = [];
  let cur = '';
  let depth = 0;
  for (const ch of value) {
    if (ch === '{') depth++;
    else if (ch === '}' && depth > 0) depth--;
    if (depth === 0 && /[,\s]/.test(ch)) {
      if (cur) words.push(cur);
      cur = '';
    } else cur += ch;
  }
  if (cur) words.push(cur);
  return words;
}

export interface ProxymapOptions {
  readonly tables: TableRegistry;
  /** The proxy_read_maps (or, for proxywrite, proxy_write_maps) value, expanded. */
  readonly approved: string;
  /** The proxywrite service: updates and deletes allowed, proxy_write_maps applies. */
  readonly writer: boolean;
  readonly log: Logger;
  /** The proxywrite service name, for the refusal warning. */
  readonly writerName?: string;
}

type Found = { table: LookupTable; name: string } | { status: ProxyStatus };

/** The proxymap request handlers, independent of the transport. */
export class Proxymap {
  private readonly approved: Set<string>;
  constructor(private readonly options: ProxymapOptions) {
    this.approved = approvedTables(options.approved);
  }

  /** proxy_map_find(): approve and open the table. */
  private find(request: unknown): Found {
    if (typeof request !== 'string') return { status: 'bad' };
    const name = stripProxyPrefix(request);
    if (!name.includes(':')) return { status: 'bad' };
    if (!this.approved.has(name)) {
      const { log, writer } = this.options;
      log.warn(`request for unapproved table: "${name}"`);
      log.warn(
        `to approve this table for ${writer ? 'read-write' : 'read-only'} access, list proxy:${name} in main.cf:${writer ? 'proxy_write_maps' : 'proxy_read_maps'}`,
      );
      return { status: 'deny' };
    }
    try {
      return { table: this.options.tables.open(name), name };
    } catch (err) {
      this.options.log.warn(`${name}: ${message(err)}`);
      return { status: 'retry' };
    }
  }

  open(table: unknown): ProxyOpenReply {
    const found = this.find(table);
    if ('status' in found) return { status: found.status };
    return { status: 'ok', pattern: found.table.pattern };
  }

  async lookup(table: unknown, key: unknown): Promise<ProxyLookupReply> {
    if (typeof key !== 'string') return { status: 'bad' };
    const found = this.find(table);
    if ('status' in found) return { status: found.status };
    try {
      const value = await found.table.lookup(key);
      return value === undefined ? { status: 'nokey' } : { status: 'ok', value };
    } catch (err) {
      this.options.log.warn(`${found.name}: ${message(err)}`);
      return { status: 'retry' };
    }
  }

  async sequence(table: unknown): Promise<ProxySequenceReply> {
    const found = this.find(table);
    if ('status' in found) return { status: found.status };
    if (!found.table.entries) return { status: 'config' };
    try {
      const entries: (readonly [string, string])[] = [];
      for await (const e of found.table.entries()) entries.push([e[0], e[1]]);
      return { status: 'ok', entries };
    } catch (err) {
      this.options.log.warn(`${found.name}: ${message(err)}`);
      return { status: 'retry' };
    }
  }

  async update(table: unknown, key: unknown, value: unknown): Promise<ProxyUpdateReply> {
    if (typeof key !== 'string' || typeof value !== 'string' || typeof table !== 'string') return { status: 'bad' };
    if (!this.refuseReader(table, 'update')) return { status: 'deny' };
    const found = this.find(table);
    if ('status' in found) return { status: found.status };
    if (!found.table.update) return this.readOnly(found.name);
    try {
      await found.table.update(key, value);
      return { status: 'ok' };
    } catch (err) {
      this.options.log.warn(`${found.name}: ${message(err)}`);
      return { status: 'retry' };
    }
  }

  async delete(table: unknown, key: unknown): Promise<ProxyUpdateReply> {
    if (typeof key !== 'string' || typeof table !== 'string') return { status: 'bad' };
    if (!this.refuseReader(table, 'delete')) return { status: 'deny' };
    const found = this.find(table);
    if ('status' in found) return { status: found.status };
    if (!found.table.delete) return this.readOnly(found.name);
    try {
      return { status: (await found.table.delete(key)) ? 'ok' : 'nokey' };
    } catch (err) {
      this.options.log.warn(`${found.name}: ${message(err)}`);
      return { status: 'retry' };
    }
  }

  /** False (after the warning) when this is the read-only service. */
  private refuseReader(table: string, what: string): boolean {
    if (this.options.writer) return true;
    this.options.log.warn(`refusing ${stripProxyPrefix(table)} ${what} request on non-${this.options.writerName ?? 'proxywrite'} service`);
    return false;
  }

  private readOnly(name: string): ProxyUpdateReply {
    this.options.log.warn(posternError('POSTERN_ERR_TABLE_READONLY', name).message);
    return { status: 'config' };
  }
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export const main: ServiceMain = async (ctx) => {
  const { config, entry, log } = ctx;
  const readerName = config.get('proxymap_service_name');
  const writerName = config.get('proxywrite_service_name');
  let writer: boolean;
  if (entry.name === writerName) writer = true;
  else if (entry.name === readerName) writer = false;
  else throw posternError('POSTERN_ERR_PROXYMAP_SERVICE', readerName, writerName);
  const proxy = new Proxymap({
    tables: use(ctx.container, TABLES),
    approved: config.get(writer ? 'proxy_write_maps' : 'proxy_read_maps'),
    writer,
    writerName,
    log,
  });
  type Args = { table?: unknown; key?: unknown; value?: unknown } | null;
  return serveIpc(ctx, {
    [PROXY_METHOD.OPEN]: (a: Args) => proxy.open(a?.table),
    [PROXY_METHOD.LOOKUP]: (a: Args) => proxy.lookup(a?.table, a?.key),
    [PROXY_METHOD.UPDATE]: (a: Args) => proxy.update(a?.table, a?.key, a?.value),
    [PROXY_METHOD.DELETE]: (a: Args) => proxy.delete(a?.table, a?.key),
    [PROXY_METHOD.SEQUENCE]: (a: Args) => proxy.sequence(a?.table),
  });
};
