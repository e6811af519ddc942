/**
 * Recipient resolution (qmgr_message_resolve): asks trivial-rewrite(8) where
 * each recipient goes, caches the answers, and turns resolver trouble into
 * deliveries to the error and retry transports, as Postfix does:
 *
 *   RESOLVE_FLAG_FAIL or no answer   -> retry:"4.3.0 address resolver failure"
 *   RESOLVE_FLAG_ERROR               -> error:"5.1.3 bad address syntax"
 *   transport in defer_transports    -> retry:"4.3.2 deferred transport"
 *                                       (unless the message came in with a flush)
 */
import { SERVICE, type Logger, type ResolveResult, type RewriteService } from '@postern/core';

/** Where a recipient goes: the transport, its next-hop and the per-destination queue. */
export interface Route {
  readonly transport: string;
  readonly nexthop: string;
  /** The recipient as resolved (for per-recipient destinations). */
  readonly recipient: string;
}

const CACHE_LIMIT = 10_000;
const CACHE_TTL_MS = 60_000;

export const RESOLVER_FAILURE = '4.3.0 address resolver failure';
export const BAD_ADDRESS = '5.1.3 bad address syntax';
export const DEFERRED_TRANSPORT = '4.3.2 deferred transport';

export class QmgrResolver {
  private readonly cache = new Map<string, { route: Route; time: number }>();
  private readonly inflight = new Map<string, Promise<Route>>();

  constructor(
    private readonly rewrite: RewriteService,
    private readonly log: Logger,
  ) {}

  /** The route of `address` for mail from `sender` (cached for a minute, failures never). */
  resolve(address: string, sender: string): Promise<Route> | Route {
    const key = `${sender}\n${address}`;
    const hit = this.cache.get(key);
    const now = Date.now();
    if (hit && now - hit.time < CACHE_TTL_MS) return hit.route;
    let p = this.inflight.get(key);
    if (!p) {
      p = this.ask(address, sender).then(
        ({ route, cacheable }) => {
          this.inflight.delete(key);
          if (cacheable) this.remember(key, route);
          return route;
        },
        (err: unknown) => {
          this.inflight.delete(key);
          throw err;
        },
      );
      this.inflight.set(key, p);
    }
    return p;
  }

  private async ask(address: string, sender: string): Promise<{ route: Route; cacheable: boolean }> {
    let reply: ResolveResult;
    try {
      reply = await this.rewrite.resolve(address, sender);
    } catch (err) {
      this.log.warn(`problem talking to service ${SERVICE.REWRITE}: ${(err as Error).message}`);
      return { route: redirect(SERVICE.RETRY, RESOLVER_FAILURE, address), cacheable: false };
    }
    if (reply.flags.includes('fail')) return { route: redirect(SERVICE.RETRY, RESOLVER_FAILURE, reply.recipient), cacheable: false };
    if (reply.flags.includes('error')) return { route: redirect(SERVICE.ERROR, BAD_ADDRESS, reply.recipient), cacheable: true };
    return {
      route: { transport: reply.transport, nexthop: reply.nexthop, recipient: reply.recipient || address },
      cacheable: true,
    };
  }

  private remember(key: string, route: Route): void {
    if (this.cache.size >= CACHE_LIMIT) {
      // Map keeps insertion order: drop the oldest tenth.
      let n = CACHE_LIMIT / 10;
      for (const k of this.cache.keys()) {
        this.cache.delete(k);
        if (--n <= 0) break;
      }
    }
    this.cache.set(key, { route, time: Date.now() });
  }
}

/** QMGR_REDIRECT: send the recipient to `transport` with `nexthop` as its text. */
export function redirect(transport: string, nexthop: string, recipient: string): Route {
  return { transport, nexthop, recipient };
}

/**
 * A message's content filter (content_filter, or a FILTER action), as
 * qmgr_message_resolve applies it: every recipient that resolved goes to the
 * filter's transport and next hop ($myhostname when "transport:" names none);
 * recipients that failed to resolve keep their retry/error route.
 */
export function applyFilter(route: Route, filter: string | undefined, myhostname: string): Route {
  if (!filter || route.transport === SERVICE.RETRY || route.transport === SERVICE.ERROR) return route;
  const colon = filter.indexOf(':');
  const transport = colon < 0 ? filter : filter.slice(0, colon);
  const nexthop = colon < 0 ? '' : filter.slice(colon + 1);
  return { transport, nexthop: nexthop || myhostname, recipient: route.recipient };
}

/** defer_transports: mail for these waits for a flush. */
export function applyDeferTransports(route: Route, deferTransports: ReadonlySet<string>, flushed: boolean): Route {
  if (flushed || deferTransports.size === 0 || !deferTransports.has(route.transport)) return route;
  return redirect(SERVICE.RETRY, DEFERRED_TRANSPORT, route.recipient);
}
