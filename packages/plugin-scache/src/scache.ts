/**
 * scache(8) - shared connection cache server.
 *
 * SYNOPSIS
 *   scache unix - - n - 1 scache           (master.cf; one process)
 *
 * DESCRIPTION
 *   Postfix's scache holds open SMTP/LMTP sessions that smtp(8) and lmtp(8)
 *   processes hand it (descriptor passing), so the next delivery to the same
 *   destination, by any process, reuses the connection.
 *
 *   Postern's scache keeps the shared books of the connection cache, not the
 *   sockets: a parked session stays in the smtp/lmtp process that opened it,
 *   which reuses it first. When another process misses, it asks scache
 *   (find with want); scache names a session parked elsewhere and takes it
 *   off the books, and the asker has its owner hand it over through master
 *   (plaintext sessions only; TLS state cannot move). scache records every
 *   park (save), lookup (find) and end (drop), caps the time a session may
 *   stay parked at
 *   connection_cache_ttl_limit, and logs Postfix's statistics every
 *   connection_cache_status_update_time:
 *
 *     statistics: start interval Oct  9 15:15:38
 *     statistics: domain lookup hits=4 miss=2 success=66%
 *     statistics: address lookup hits=0 miss=2 success=0%
 *     statistics: max simultaneous domains=1 addresses=1 connection=2
 *
 *   and one line of its own: misses while another process had a session
 *   parked that was not handed over.
 *
 * PROTOCOL
 *   IPC calls (SCACHE_METHOD in @postern/core): scache.save
 *   {labels, owner, ttl} -> {ttl}, scache.find {kind, label, pid, owner?,
 *   want?} -> {hit, elsewhere, owner?}, scache.drop {owner}.
 *
 * CONFIGURATION PARAMETERS
 *   connection_cache_ttl_limit (2s), connection_cache_status_update_time
 *   (600s), connection_cache_protocol_timeout (5s; read by the clients).
 *   The smtp_/lmtp_connection_cache_* and _connection_reuse_* parameters
 *   belong to the clients (plugin-smtp, plugin-lmtp).
 *
 * SECURITY
 *   scache holds no mail and no secrets; its socket is private.
 */
import { SCACHE_METHOD, type ScacheDropArgs, type ScacheFindArgs, type ScacheSaveArgs } from '@postern/core';
import { serveIpc, type ServiceContext, type ServiceInstance, type ServiceMain } from '@postern/core';
import { ScacheBooks } from './scache-books.js';

export const main: ServiceMain = async (ctx: ServiceContext): Promise<ServiceInstance> => {
  const books = new ScacheBooks(ctx.config.time('connection_cache_ttl_limit'));
  const dump = () => {
    for (const line of books.statusDump()) ctx.log.info(line);
  };
  const served = serveIpc(ctx, {
    [SCACHE_METHOD.SAVE]: (a: ScacheSaveArgs) => books.save(a),
    [SCACHE_METHOD.FIND]: (a: ScacheFindArgs) => books.find(a),
    [SCACHE_METHOD.DROP]: (a: ScacheDropArgs) => {
      books.drop(a);
      return {};
    },
  });
  const every = Math.max(1, ctx.config.time('connection_cache_status_update_time')) * 1000;
  const timer = setInterval(dump, every);
  timer.unref();
  const expiry = setInterval(() => books.expire(), 1000);
  expiry.unref();
  return {
    async stop(graceful) {
      clearInterval(timer);
      clearInterval(expiry);
      await served.stop(graceful);
      dump();
    },
  };
};
