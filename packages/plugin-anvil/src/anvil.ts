/**
 * anvil(8) - session count and request rate control server.
 *
 * SYNOPSIS
 *   anvil   unix  -       -       n       -       1       anvil
 *
 * DESCRIPTION
 *   Keeps, per remote client ("service:address"), the number of concurrent
 *   connections and, per anvil_rate_time_unit, the number of connections,
 *   MAIL FROM requests, RCPT TO requests, new TLS sessions and AUTH
 *   requests. smtpd(8) asks it on every such event and compares the answer
 *   with its smtpd_client_*_limit parameters; anvil itself enforces nothing.
 *   Every anvil_status_update_time, and when it stops, anvil logs the peaks
 *   it saw since the last report:
 *
 *     statistics: max connection rate 2/60s for (smtp:127.0.0.1) at Nov 21 07:00:00
 *     statistics: max connection count 1 for (smtp:127.0.0.1) at Nov 21 07:00:00
 *     statistics: max cache size 1 at Nov 21 07:00:00
 *
 * PROTOCOL
 *   Core's IPC over the private/anvil socket, the AnvilService contract
 *   (@postern/core contracts/anvil.ts): connect, disconnect, message,
 *   recipient, newtls, newtls_report, auth, lookup, each with { ident }.
 *   Clients get ANVIL from their container (anvilClient), which never throws.
 *
 * CONFIGURATION PARAMETERS
 *   anvil_rate_time_unit (60s)       the time unit of every rate.
 *   anvil_status_update_time (600s)  how often the peaks are logged.
 *
 *   anvil_backend (internal)         internal: the table below, in this
 *                                    process; redis: counters in Redis that
 *                                    every node's anvil shares (@postern/redis),
 *                                    so the limits hold for the whole system.
 *
 * SECURITY
 *   The internal table lives in memory only; its size is bounded by the clients that
 *   connected within one time unit. Run one process (maxproc 1): several
 *   would each count a part. Long running: max_idle and max_use do not
 *   recycle it, which would lose the counts.
 */
import { BACKEND, BACKENDS, openBackend, serveAnvil, tryUse, type AnvilService, type ServiceMain } from '@postern/core';
import { AnvilTable } from './anvil-remote.js';

/** anvil's entry with its clock (ms since the epoch) given: tests move time on. */
export const createAnvil = (now: () => number = Date.now): ServiceMain => async (ctx) => {
  // anvil_backend = redis: the counters every node's anvil shares, so limits hold across nodes.
  const backends = tryUse(ctx.container, BACKENDS);
  const shared = backends && openBackend<AnvilService & { close?(): Promise<void> }>(backends, BACKEND.ANVIL, ctx.config, ctx.log);
  if (shared) {
    const served = serveAnvil(ctx, shared);
    return {
      async stop(graceful: boolean) {
        await served.stop(graceful);
        await shared.close?.();
      },
    };
  }
  const timeUnit = ctx.config.time('anvil_rate_time_unit') * 1000;
  const statusTime = ctx.config.time('anvil_status_update_time') * 1000;
  const table = new AnvilTable({ timeUnit, log: ctx.log, now });
  const expire = setInterval(() => table.expire(), Math.max(timeUnit, 1000));
  const status = setInterval(() => table.statusReport(), Math.max(statusTime, 1000));
  expire.unref();
  status.unref();
  const served = serveAnvil(ctx, table);
  return {
    async stop(graceful: boolean) {
      await served.stop(graceful);
      clearInterval(expire);
      clearInterval(status);
      table.statusReport();
    },
  };
};

export const main: ServiceMain = createAnvil();

export { AnvilTable };
