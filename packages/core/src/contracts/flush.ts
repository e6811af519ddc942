/**
 * flush(8) as a contract: Postfix's fast flush cache manager (flush_clnt.c).
 * It keeps, per destination, a log of the queue IDs of mail deferred for it,
 * so that ETRN, `sendmail -qRsite` and `postern queue -s site` deliver just
 * that mail, and `postern queue -i ID` delivers one deferred message now.
 *
 * Who calls what:
 * - qmgr (or the smtp client), when it defers mail for a next-hop domain:
 *   `add(site, queueId)` with the recipient's domain (Postfix's qmgr calls
 *   flush_add() for each deferred recipient's nexthop when the domain is
 *   eligible; the service itself applies fast_flush_domains, so the caller
 *   may simply call it for every deferral and ignore the answer).
 * - smtpd's ETRN: `sendSite(site)`, then {@link etrnReply}.
 * - postqueue -s / sendmail -qR: `sendSite(site)`; postqueue -i: `sendFile(id)`.
 * - master's wakeup timer: `refresh()`; `purge()` on demand.
 *
 * The status values are Postfix's FLUSH_STAT_* as words. The remote stub
 * answers "fail" when the service cannot be reached, as flush_clnt does.
 */
import type { ServiceContext, ServiceInstance } from './service.js';
import { token } from './token.js';
import { SERVICE } from '../protocol/services.js';
import type { ServiceClients } from '../service/clients.js';
import { serveIpc } from '../service/serve.js';
import type { IpcClient } from '../ipc/client.js';
import type { IpcServer } from '../ipc/server.js';

/**
 * FLUSH_STAT_OK: done (or nothing to do); FLUSH_STAT_FAIL: the service failed
 * or is unreachable; FLUSH_STAT_BAD: bad request or parameter; FLUSH_STAT_DENY:
 * the destination is not eligible for fast flush (fast_flush_domains).
 */
export type FlushStatus = 'ok' | 'fail' | 'bad' | 'deny';

export interface FlushService {
  /** FLUSH_REQ_ADD: remember that `queueId` is deferred for `site`. */
  add(site: string, queueId: string): Promise<FlushStatus>;
  /** FLUSH_REQ_SEND_SITE: move the site's deferred mail to incoming and wake qmgr. */
  sendSite(site: string): Promise<FlushStatus>;
  /** FLUSH_REQ_SEND_FILE: move one deferred message to incoming and wake qmgr. */
  sendFile(queueId: string): Promise<FlushStatus>;
  /** FLUSH_REQ_REFRESH: flush logs unread for fast_flush_refresh_time; drop old empty logs. */
  refresh(): Promise<FlushStatus>;
  /** FLUSH_REQ_PURGE: refresh every log now. */
  purge(): Promise<FlushStatus>;
}

export const FLUSH = token<FlushService>('FlushService');

/** One per-destination log (or, for file logs, a taken file a crash left behind). */
export interface FlushLogEntry {
  readonly site: string;
  /** The log's name for remove() and consume(): the site, or a leftover taken file. */
  readonly file: string;
  /** Entries (file logs: bytes); 0 means empty. */
  readonly size: number;
  readonly mtimeMs: number;
  /** When the log was last read (Postern removes a log when it reads it, so: its creation). */
  readonly readMs: number;
  readonly leftover: boolean;
}

/**
 * Where flush(8) keeps its logs: files under queue_directory/flush (the
 * built-in backend) or a store every node shares (flush_backend = redis),
 * so ETRN on any node flushes mail any node deferred.
 */
export interface FlushLogStore {
  add(site: string, queueId: string): Promise<void>;
  /** Takes the log of `site` away atomically and returns its distinct queue IDs ([] when there is none). */
  take(site: string): Promise<string[]>;
  /** Takes a log or leftover named by an entry's `file`. */
  consume(file: string): Promise<string[]>;
  entries(): AsyncIterable<FlushLogEntry>;
  remove(file: string): Promise<void>;
}

/** Method names on the wire (Postfix's request names). */
export const FLUSH_METHOD = {
  ADD: 'add',
  SEND_SITE: 'send_site',
  SEND_FILE: 'send_file',
  REFRESH: 'refresh',
  PURGE: 'purge',
} as const;

const STATUSES: readonly FlushStatus[] = ['ok', 'fail', 'bad', 'deny'];

/** valid_hostname() or valid_mailhost_literal(): what may name a flush log (ETRN argument, -s site). */
export function isFlushSite(site: string): boolean {
  if (typeof site !== 'string' || site.length === 0 || site.length > 255) return false;
  if (site.startsWith('[')) {
    const inner = /^\[(?:IPv6:)?([0-9A-Fa-f:.]+)\]$/.exec(site);
    return inner !== null;
  }
  if (site.startsWith('.') || site.endsWith('.') || site.includes('..')) return false;
  return site.split('.').every((label) => /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/.test(label)) && !/^[0-9.]+$/.test(site);
}

/** smtpd's answer to ETRN for a flush status (smtpd.c etrn_cmd). */
export function etrnReply(status: FlushStatus, site: string): string {
  switch (status) {
    case 'ok':
      return '250 Queuing started';
    case 'deny':
      return `459 <${site}>: service unavailable`;
    default:
      return '458 Unable to queue messages';
  }
}

/** The client side; never throws: an unreachable or failing service is "fail". */
export class RemoteFlush implements FlushService {
  constructor(private readonly client: IpcClient) {}
  private async ask(method: string, args: unknown): Promise<FlushStatus> {
    try {
      const status = await this.client.call<FlushStatus>(method, args);
      return STATUSES.includes(status) ? status : 'fail';
    } catch {
      return 'fail';
    }
  }
  add(site: string, queueId: string): Promise<FlushStatus> {
    return this.ask(FLUSH_METHOD.ADD, { site, queueId });
  }
  sendSite(site: string): Promise<FlushStatus> {
    return this.ask(FLUSH_METHOD.SEND_SITE, { site });
  }
  sendFile(queueId: string): Promise<FlushStatus> {
    return this.ask(FLUSH_METHOD.SEND_FILE, { queueId });
  }
  refresh(): Promise<FlushStatus> {
    return this.ask(FLUSH_METHOD.REFRESH, {});
  }
  purge(): Promise<FlushStatus> {
    return this.ask(FLUSH_METHOD.PURGE, {});
  }
}

export const flushClient = (clients: ServiceClients): FlushService => new RemoteFlush(clients.client(SERVICE.FLUSH));

/** Serves `impl` on the flush endpoint. */
export function serveFlush(ctx: ServiceContext, impl: FlushService): ServiceInstance & { server: IpcServer } {
  const str = (v: unknown) => (typeof v === 'string' ? v : '');
  return serveIpc(ctx, {
    [FLUSH_METHOD.ADD]: (a: { site?: unknown; queueId?: unknown } | null) => impl.add(str(a?.site), str(a?.queueId)),
    [FLUSH_METHOD.SEND_SITE]: (a: { site?: unknown } | null) => impl.sendSite(str(a?.site)),
    [FLUSH_METHOD.SEND_FILE]: (a: { queueId?: unknown } | null) => impl.sendFile(str(a?.queueId)),
    [FLUSH_METHOD.REFRESH]: () => impl.refresh(),
    [FLUSH_METHOD.PURGE]: () => impl.purge(),
  });
}
