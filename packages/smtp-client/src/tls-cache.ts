/**
 * The client side of tlsmgr(8) (Postfix's tls_mgr.c and tls_scache.c): TLS
 * session resumption shared by every smtpd, smtp and lmtp process.
 *
 *   - smtp/lmtp keep the serialized client sessions (tlsSocket.getSession())
 *     in tlsmgr under "host[address]:port" and offer them again on the next
 *     STARTTLS (tls.connect's `session` option);
 *   - smtpd asks tlsmgr for the current session ticket key (48 bytes for
 *     Node's ticketKeys: name, HMAC and AES keys), so a ticket any smtpd
 *     process issued is accepted by every other one; the key lives for
 *     smtpd_tls_session_cache_timeout, then tlsmgr makes a new one.
 *
 * tlsSessionCache(clients, type) talks to the tlsmgr service when its socket
 * exists (queue_directory/private/tlsmgr); without a tlsmgr service it keeps
 * the sessions in this process (MemoryTlsStore) and leaves smtpd with the
 * per-process ticket key Node makes by itself.
 *
 * Methods (IPC calls to tlsmgr): TLSMGR_METHOD.*, payloads plain data with
 * sessions as base64.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import type { TLSSocket } from 'node:tls';
import type { ConfigView } from '@postern/core';
import type { Logger } from '@postern/core';
import { SERVICE } from '@postern/core';
import { servicePath, TLSMGR_METHOD, type ServiceClients, type TlsCacheType, type TlsLookupArgs, type TlsSessionCache, type TlsTicketKey, type TlsUpdateArgs } from '@postern/core';

export { TLS_CACHE_TYPES, TLSMGR_METHOD, type TlsCacheType, type TlsLookupArgs, type TlsSessionCache, type TlsTicketKey, type TlsUpdateArgs } from '@postern/core';

/** The cache parameters of one program: <type>_tls_session_cache_database and _timeout. */
export function tlsCacheParameters(config: ConfigView, type: TlsCacheType): { database: string; timeout: number } {
  const db = `${type}_tls_session_cache_database`;
  const to = `${type}_tls_session_cache_timeout`;
  return {
    database: config.has(db) ? config.get(db).trim() : '',
    timeout: config.has(to) ? config.time(to) : 3600,
  };
}

/** Sessions with an expiry, in memory (tlsmgr with an empty database parameter, or no tlsmgr at all). */
export class MemoryTlsStore {
  private readonly entries = new Map<string, { data: Buffer; expires: number }>();

  get(id: string, now = Date.now()): Buffer | undefined {
    const e = this.entries.get(id);
    return e && e.expires > now ? e.data : undefined;
  }

  put(id: string, data: Buffer, ttlMs: number, now = Date.now()): void {
    this.entries.set(id, { data, expires: now + ttlMs });
  }

  delete(id: string): void {
    this.entries.delete(id);
  }

  /** Drops expired entries; returns how many were dropped. */
  sweep(now = Date.now()): number {
    let n = 0;
    for (const [id, e] of this.entries) {
      if (e.expires <= now) {
        this.entries.delete(id);
        n++;
      }
    }
    return n;
  }

  get size(): number {
    return this.entries.size;
  }
}

/** The current ticket key, renewed once it is `lifetimeMs` old (tlsmgr's key rotation). */
export class TicketKeyRing {
  private current: { keys: Buffer; expires: number } | undefined;

  constructor(private readonly lifetimeMs: number) {}

  key(now = Date.now()): TlsTicketKey {
    if (!this.current || this.current.expires <= now) {
      this.current = { keys: randomBytes(48), expires: now + Math.max(1000, this.lifetimeMs) };
    }
    return { name: this.current.keys.subarray(0, 16).toString('hex'), keys: this.current.keys.toString('base64'), expires: this.current.expires };
  }
}

/** The TLS session cache of one program: through tlsmgr when it runs, else in this process. */
export function tlsSessionCache(clients: ServiceClients, type: TlsCacheType, log?: Logger): TlsSessionCache {
  const { config } = clients;
  const { timeout } = tlsCacheParameters(config, type);
  const path = servicePath(config, SERVICE.TLSMGR);
  const local = new MemoryTlsStore();
  let warned = false;
  const remote = () => (existsSync(path) ? clients.client(SERVICE.TLSMGR) : undefined);
  const failed = (err: unknown) => {
    if (!warned) log?.warn(`problem talking to service ${SERVICE.TLSMGR}: ${(err as Error).message}`);
    warned = true;
  };
  return {
    type,
    timeout,
    get shared() {
      return existsSync(path);
    },
    async get(id) {
      const c = remote();
      if (!c) return local.get(id);
      try {
        const r = await c.call<{ session?: string }>(TLSMGR_METHOD.LOOKUP, { type, id } satisfies TlsLookupArgs);
        return r.session ? Buffer.from(r.session, 'base64') : undefined;
      } catch (err) {
        failed(err);
        return undefined;
      }
    },
    async put(id, session) {
      const c = remote();
      if (!c) return local.put(id, session, timeout * 1000);
      try {
        await c.call(TLSMGR_METHOD.UPDATE, { type, id, session: session.toString('base64') } satisfies TlsUpdateArgs);
      } catch (err) {
        failed(err);
      }
    },
    async remove(id) {
      const c = remote();
      if (!c) return local.delete(id);
      try {
        await c.call(TLSMGR_METHOD.DELETE, { type, id } satisfies TlsLookupArgs);
      } catch (err) {
        failed(err);
      }
    },
    async ticketKey() {
      const c = remote();
      if (!c) return undefined;
      try {
        const key = await c.call<TlsTicketKey | null>(TLSMGR_METHOD.TKTKEY, {});
        return key?.keys ? key : undefined;
      } catch (err) {
        failed(err);
        return undefined;
      }
    },
  };
}

/** The client cache key of a server: "host[address]:port" (or the socket path). */
export function tlsClientSessionId(server: { host: string; address?: string; port?: number; path?: string }): string {
  return server.path ? `${server.host}[${server.path}]` : `${server.host}[${server.address ?? ''}]:${server.port ?? ''}`;
}

/**
 * Stores the session of a finished handshake, and every later one the server
 * sends (TLS 1.3 tickets arrive after the handshake). A resumed session is
 * stored again: its ticket may be new.
 */
export function saveTlsSession(cache: TlsSessionCache, id: string, socket: TLSSocket): void {
  const store = (s: Buffer | undefined) => {
    if (s && s.length) void cache.put(id, s);
  };
  store(socket.getSession());
  socket.on('session', store);
}

/**
 * smtpd: applies tlsmgr's ticket key (resolving once the first one is in
 * place) and again whenever tlsmgr renews it. `apply` gets the 48 key bytes.
 * Resolves with a stop function.
 */
export async function shareTicketKeys(
  cache: TlsSessionCache,
  apply: (keys: Buffer, key: TlsTicketKey) => void,
  log?: Logger,
): Promise<() => void> {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let lastName = '';
  let settling = 3;
  const refresh = async () => {
    if (stopped) return;
    const key = await cache.ticketKey();
    if (stopped) return;
    let wait = 60_000;
    if (key) {
      if (key.name !== lastName) {
        try {
          apply(Buffer.from(key.keys, 'base64'), key);
          lastName = key.name;
        } catch (err) {
          log?.warn(`cannot install TLS session ticket key: ${(err as Error).message}`);
        }
      }
      wait = Math.max(1000, key.expires - Date.now() + 50);
      // two nodes that start at once may each store a new shared key (the
      // last write wins): ask again soon, a few times, so every node ends up
      // with the key that stayed stored
      if (settling > 0) {
        settling--;
        wait = Math.min(wait, 2000);
      }
    }
    timer = setTimeout(() => void refresh(), Math.min(wait, 0x7fffffff));
    timer.unref();
  };
  await refresh();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
