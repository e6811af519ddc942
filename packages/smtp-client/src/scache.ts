/**
 * The client side of scache(8) (Postfix's scache_clnt.c), the shared
 * connection cache service.
 *
 * Postfix's scache holds the open sessions themselves: an smtp process hands
 * the socket over (descriptor passing) and any other smtp process may take it
 * back. In Postern the session stays parked in its smtp process
 * (InProcessSessionCache), which reuses it at no cost, and scache keeps the
 * shared books; a session moves only when another process needs it:
 *
 *   save  a session was parked under a destination and an endpoint label,
 *         for at most connection_cache_ttl_limit (scache caps the time the
 *         client asks for, smtp_connection_cache_time_limit);
 *   find  a destination / endpoint lookup, with whether it found a session;
 *         scache counts hits and misses as Postfix's scache does and also
 *         how many misses had a session parked by another process (the
 *         reuse a descriptor-passing cache would have added);
 *   drop  a parked session ended (idle timeout, found dead, process exit).
 *   want  (a find, after a local miss) scache names a session another
 *         process parked under the label; the asker relays a request to
 *         that process through master (service/relay.ts), which hands the
 *         plaintext session over (ClientSession.handOver: state plus
 *         socket) or answers that it is gone. TLS sessions do not move.
 *
 * The calls are one-way and ordered on one connection; the smtp process does
 * not wait for them. Without an scache service (no socket) the cache works
 * locally, as Postfix's smtp does with its private per-process cache.
 */
import { existsSync } from 'node:fs';
import type { Logger } from '@postern/core';
import { SERVICE } from '@postern/core';
import { SCACHE_METHOD, servicePath, type ScacheFindReply, type ScacheLink, type ServiceClients } from '@postern/core';
import type { Socket } from 'node:net';
import { onRelay, relay, relayAvailable } from '@postern/core';
import { InProcessSessionCache, type CachedSession, type HandedSession, type SessionCache, type SessionCacheKind } from './cache.js';

export { SCACHE_METHOD, type ScacheDropArgs, type ScacheFindArgs, type ScacheFindReply, type ScacheLink, type ScacheSaveArgs, type ScacheSaveReply } from '@postern/core';

/** The link to the scache service over `clients` (the container's connections), or undefined when none runs. */
export function scacheLink(clients: ServiceClients, log?: Logger): ScacheLink | undefined {
  const { config } = clients;
  const path = servicePath(config, SERVICE.SCACHE);
  if (!existsSync(path)) return undefined;
  const timeout = (config.has('connection_cache_protocol_timeout') ? config.time('connection_cache_protocol_timeout') : 5) * 1000;
  let warned = false;
  const send = (method: string, args: unknown) => {
    if (!existsSync(path)) return;
    clients.client(SERVICE.SCACHE)
      .call(method, args, { timeout })
      .catch((err: Error) => {
        if (!warned) log?.warn(`problem talking to service ${SERVICE.SCACHE}: ${err.message}`);
        warned = true;
      });
  };
  return {
    save: (a) => send(SCACHE_METHOD.SAVE, a),
    find: (a) => send(SCACHE_METHOD.FIND, a),
    drop: (a) => send(SCACHE_METHOD.DROP, a),
    want: async (a) => {
      if (!existsSync(path)) return undefined;
      try {
        return await clients.client(SERVICE.SCACHE).call<ScacheFindReply>(SCACHE_METHOD.FIND, { ...a, want: true }, { timeout });
      } catch {
        return undefined;
      }
    },
  };
}

/**
 * The session cache of an smtp/lmtp process with scache's books: sessions
 * parked here, every park, lookup and end reported to scache.
 */
/** How long a process waits for another to hand a session over (ms). */
const HANDOVER_WAIT = 1000;

/** Relayed between smtp processes (service/relay.ts): ask for a parked session, and the answer. */
type HandoverMessage =
  | { readonly scache: 'want'; readonly owner: string }
  | { readonly scache: 'given'; readonly owner: string; readonly state: unknown }
  | { readonly scache: 'gone'; readonly owner: string };

export class SharedSessionCache<S extends CachedSession> implements SessionCache<S> {
  private readonly local: InProcessSessionCache<S>;
  private readonly owners = new WeakMap<S, string>();
  private readonly byOwner = new Map<string, S>();
  private readonly waiting = new Map<string, (handed: HandedSession | undefined) => void>();
  private serial = 0;

  /**
   * @param link where the books go (undefined: local only)
   * @param ttlLimit connection_cache_ttl_limit in seconds (0: no cap)
   */
  constructor(
    private readonly link: ScacheLink | undefined,
    private readonly ttlLimit: number,
    private readonly pid: number = process.pid,
  ) {
    this.local = new InProcessSessionCache<S>((s) => {
      const owner = this.owners.get(s);
      if (owner) {
        this.byOwner.delete(owner);
        this.link?.drop({ owner });
      }
    });
    if (link && relayAvailable()) onRelay((from, data, handle) => this.relayed(from, data as HandoverMessage, handle));
  }

  take(key: string, kind: SessionCacheKind = 'dest'): S | undefined {
    const s = this.local.take(key, kind);
    const owner = s && this.owners.get(s);
    if (owner) this.byOwner.delete(owner);
    this.link?.find({ kind, label: key, pid: this.pid, ...(owner && { owner }) });
    return s;
  }

  /**
   * After a local miss: asks scache for a session another smtp process
   * parked under `key`, then asks that process (through master) to hand it
   * over. Undefined when there is none, it is gone, or no answer comes in time.
   */
  async borrow(key: string, kind: SessionCacheKind): Promise<HandedSession | undefined> {
    if (!this.link || !relayAvailable()) return undefined;
    const reply = await this.link.want({ kind, label: key, pid: this.pid });
    const owner = reply?.owner;
    const pid = owner ? Number(owner.split(':')[0]) : 0;
    if (!owner || !pid || pid === this.pid) return undefined;
    return new Promise<HandedSession | undefined>((resolve) => {
      const timer = setTimeout(() => done(undefined), HANDOVER_WAIT);
      const done = (handed: HandedSession | undefined) => {
        clearTimeout(timer);
        this.waiting.delete(owner);
        resolve(handed);
      };
      this.waiting.set(owner, done);
      if (!relay(pid, { scache: 'want', owner } satisfies HandoverMessage)) done(undefined);
    });
  }

  private relayed(from: number, msg: HandoverMessage, handle: unknown): void {
    if (!msg || typeof msg !== 'object' || !('scache' in msg)) return;
    if (msg.scache === 'want') {
      const s = this.byOwner.get(msg.owner);
      const handed = s?.handOver?.();
      if (!s || !handed) {
        relay(from, { scache: 'gone', owner: msg.owner } satisfies HandoverMessage);
        return;
      }
      this.byOwner.delete(msg.owner);
      this.local.withdraw(s);
      relay(from, { scache: 'given', owner: msg.owner, state: handed.state } satisfies HandoverMessage, handed.socket);
      return;
    }
    const waiter = this.waiting.get(msg.owner);
    const socket = handle as Socket | undefined;
    if (msg.scache === 'given' && socket) {
      if (waiter) waiter({ state: msg.state, socket });
      else socket.destroy(); // asked too late: nobody waits for it any more
      return;
    }
    waiter?.(undefined);
  }

  put(keys: readonly string[], session: S, idleMs: number): void {
    const ms = this.ttlLimit > 0 ? Math.min(idleMs, this.ttlLimit * 1000) : idleMs;
    const owner = `${this.pid}:${++this.serial}`;
    this.owners.set(session, owner);
    this.byOwner.set(owner, session);
    this.local.put(keys, session, ms);
    this.link?.save({
      labels: keys.map((label, i) => ({ kind: i === 0 ? 'dest' : 'endp', label })),
      owner,
      ttl: Math.ceil(idleMs / 1000),
    });
  }

  closeAll(): void {
    this.local.closeAll();
  }

  get size(): number {
    return this.local.size;
  }
}

/** The session cache an smtp/lmtp process uses: scache's books when the service runs. */
export function sharedSessionCache<S extends CachedSession>(clients: ServiceClients, log?: Logger): SharedSessionCache<S> {
  const { config } = clients;
  const limit = config.has('connection_cache_ttl_limit') ? config.time('connection_cache_ttl_limit') : 0;
  return new SharedSessionCache<S>(scacheLink(clients, log), limit);
}
