/**
 * Connection reuse inside one smtp or lmtp process (Postfix's connection
 * cache, smtp_reuse.c, with scache(8) behind it): after a transaction the
 * session is reset (RSET) and parked under its destination and its server
 * address, for smtp_connection_cache_time_limit; the next delivery to the
 * same destination takes it instead of connecting again. A session retires
 * after smtp_connection_reuse_count_limit uses (0: no limit) or once it is
 * smtp_connection_reuse_time_limit old.
 *
 * SessionCache is the small interface a shared cache implements;
 * InProcessSessionCache is the default, SharedSessionCache (scache.ts) keeps
 * the scache(8) service's books besides. The keys of put() are, in order,
 * the destination label and the endpoint (server address) label; take()
 * says which of the two it looks up (Postfix's find_dest / find_endp).
 */

/** A session given up by one process for another: its state and its socket. */
export interface HandedSession {
  readonly state: unknown;
  readonly socket: import('node:net').Socket;
}

/** What a cache needs to know of a parked session. */
export interface CachedSession {
  readonly createdAt: number;
  readonly uses: number;
  readonly usable: boolean;
  /** Ends the session (QUIT). */
  quit(): void;
  /** Gives the session up for another process, when it can move (ClientSession.handOver). */
  handOver?(): HandedSession | undefined;
}

/** A destination ("smtp:example.com") or an endpoint ("smtp:192.0.2.1:25") label. */
export type { SessionCacheKind } from '@postern/core';
import type { SessionCacheKind } from '@postern/core';

export interface SessionCache<S extends CachedSession> {
  /** Takes a parked session for `key` out of the cache. */
  take(key: string, kind?: SessionCacheKind): S | undefined;
  /** Parks `session` under its keys for at most `idleMs`. */
  put(keys: readonly string[], session: S, idleMs: number): void;
  /** Ends every parked session. */
  closeAll(): void;
  /** After a miss: a session another process parked under `key`, handed over (scache). */
  borrow?(key: string, kind: SessionCacheKind): Promise<HandedSession | undefined>;
}

export class InProcessSessionCache<S extends CachedSession> implements SessionCache<S> {
  private readonly byKey = new Map<string, Set<S>>();
  private readonly timers = new Map<S, { keys: readonly string[]; timer: NodeJS.Timeout }>();

  /** @param onEvict called for a session the cache ends itself (idle timeout, found unusable, closeAll). */
  constructor(private readonly onEvict?: (session: S) => void) {}

  take(key: string, _kind?: SessionCacheKind): S | undefined {
    const set = this.byKey.get(key);
    if (!set) return undefined;
    for (const s of set) {
      this.remove(s);
      if (s.usable) return s;
      this.onEvict?.(s);
      s.quit();
    }
    return undefined;
  }

  put(keys: readonly string[], session: S, idleMs: number): void {
    const timer = setTimeout(() => {
      this.remove(session);
      this.onEvict?.(session);
      session.quit();
    }, idleMs);
    timer.unref();
    this.timers.set(session, { keys, timer });
    for (const k of keys) {
      let set = this.byKey.get(k);
      if (!set) this.byKey.set(k, (set = new Set()));
      set.add(session);
    }
  }

  /** Takes `session` out without ending it (it was handed to another process). */
  withdraw(session: S): void {
    this.remove(session);
  }

  private remove(session: S): void {
    const t = this.timers.get(session);
    if (!t) return;
    clearTimeout(t.timer);
    this.timers.delete(session);
    for (const k of t.keys) {
      const set = this.byKey.get(k);
      set?.delete(session);
      if (set && set.size === 0) this.byKey.delete(k);
    }
  }

  closeAll(): void {
    for (const s of [...this.timers.keys()]) {
      this.remove(s);
      this.onEvict?.(s);
      s.quit();
    }
  }

  get size(): number {
    return this.timers.size;
  }
}
