/**
 * tlsmgr(8) - TLS session cache and ticket key manager.
 *
 * SYNOPSIS
 *   tlsmgr unix - - n 1000? 1 tlsmgr        (master.cf; one process)
 *
 * DESCRIPTION
 *   tlsmgr keeps the TLS session caches every smtpd, smtp and lmtp process
 *   shares, and the session ticket key every smtpd process uses, so a TLS
 *   session negotiated with one process can be resumed with any other.
 *
 *   Client side (smtp, lmtp): after STARTTLS the client stores its
 *   serialized session under "host[address]:port" and offers it on the
 *   next connection to that server.
 *
 *   Server side (smtpd): resumption works with session tickets. tlsmgr
 *   makes a random 48-byte ticket key (name, HMAC key, AES key) that lives
 *   for smtpd_tls_session_cache_timeout; every smtpd process installs it
 *   (tls context ticketKeys) and asks again when it expires. A ticket
 *   issued by one smtpd process is therefore accepted by all. Node holds
 *   one key at a time: a ticket issued under the previous key makes a full
 *   handshake (Postfix keeps the previous key for decryption a while).
 *
 *   Sessions are kept in an LMDB file when <program>_tls_session_cache_database
 *   is set ("btree:${data_directory}/smtpd_scache" -> that path + ".lmdb"),
 *   in a writable lookup table of another installed type when it names one
 *   (redis:/etc/postfix/redis-tls.cf: shared by several nodes; the smtpd
 *   cache then holds the ticket key as well, so a ticket issued on one node
 *   resumes on any other), otherwise in tlsmgr's memory. Expired entries
 *   are never returned and are removed every min(timeout, 300s).
 *
 * PROTOCOL
 *   IPC calls (TLSMGR_METHOD in @postern/core): tlsmgr.lookup {type, id} ->
 *   {session?}, tlsmgr.update {type, id, session}, tlsmgr.delete {type, id},
 *   tlsmgr.tktkey {} -> {name, keys, expires} | null. Sessions are base64.
 *
 * PSEUDO RANDOM NUMBER GENERATOR
 *   Postfix's tlsmgr also maintains OpenSSL's PRNG seed (tls_random_source,
 *   tls_random_exchange_name, tls_random_prng_update_period,
 *   tls_random_reseed_period, tls_random_bytes). Node's crypto uses OpenSSL's
 *   own CSPRNG, seeded and reseeded from the operating system: these
 *   parameters are accepted and have no effect.
 *
 * CONFIGURATION PARAMETERS
 *   smtpd_tls_session_cache_database (empty), smtpd_tls_session_cache_timeout (3600s),
 *   smtp_tls_session_cache_database (empty), smtp_tls_session_cache_timeout (3600s),
 *   lmtp_tls_session_cache_database (empty), lmtp_tls_session_cache_timeout (3600s),
 *   data_directory (/var/lib/postfix).
 *
 * SECURITY
 *   The ticket key and the cached sessions (master secrets) are secrets:
 *   the socket is private, and the LMDB files are created under
 *   data_directory, which only the mail system may read.
 */
import { SERVICE, serveIpc, TABLES, tryUse, type ConfigView, type TableRegistry, type ServiceContext, type ServiceInstance, type ServiceMain } from '@postern/core';
import { TicketKeyRing } from '@postern/smtp-client';
import { TLSMGR_METHOD, TLS_CACHE_TYPES, type TlsCacheType, type TlsLookupArgs, type TlsTicketKey, type TlsUpdateArgs } from '@postern/core';
import { openTlsStore, TableTlsStore, type TlsStore } from './tlsmgr-store.js';

/** The entry of a shared smtpd cache that holds the current ticket key. */
const TICKET_KEY_ID = 'postern:ticket-key';

function ticketKeyOf(keys: Buffer, expires: number): TlsTicketKey {
  return { name: keys.subarray(0, 16).toString('hex'), keys: keys.toString('base64'), expires };
}

export interface TlsManager {
  lookup(args: TlsLookupArgs): Promise<{ session?: string }>;
  update(args: TlsUpdateArgs): Promise<Record<string, never>>;
  delete(args: TlsLookupArgs): Promise<Record<string, never>>;
  /** The current smtpd ticket key, or null when smtpd_tls_session_cache_timeout is 0. */
  ticketKey(): Promise<TlsTicketKey | null>;
  sweep(): Promise<number>;
  close(): Promise<void>;
}

export function createTlsManager(config: ConfigView, now: () => number = Date.now, tables?: TableRegistry): TlsManager {
  const stores = new Map<TlsCacheType, TlsStore>(TLS_CACHE_TYPES.map((t) => [t, openTlsStore(config, t, tables)]));
  const keyLifetime = config.time('smtpd_tls_session_cache_timeout') * 1000;
  const ring = new TicketKeyRing(keyLifetime);
  const smtpdStore = stores.get('smtpd');
  // An smtpd cache shared with other nodes holds the ticket key too, so a
  // ticket issued by any node's smtpd is accepted by every other.
  const shared = smtpdStore instanceof TableTlsStore ? smtpdStore : undefined;
  const sharedKey = async (): Promise<TlsTicketKey> => {
    const t = now();
    const found = await shared!.get(TICKET_KEY_ID, t);
    if (found?.length === 48) return ticketKeyOf(found, Number((await shared!.expiry(TICKET_KEY_ID)) ?? t + keyLifetime));
    const fresh = ring.key(t);
    await shared!.putUntil(TICKET_KEY_ID, Buffer.from(fresh.keys, 'base64'), fresh.expires);
    // Another node may have written its key at the same moment: use whichever is stored.
    const stored = await shared!.get(TICKET_KEY_ID, t);
    return stored?.length === 48 ? ticketKeyOf(stored, fresh.expires) : fresh;
  };
  const store = (type: TlsCacheType) => {
    const s = stores.get(type);
    if (!s) throw new Error(`${SERVICE.TLSMGR}: unknown session cache type "${type}"`);
    return s;
  };
  return {
    async lookup({ type, id }) {
      const data = await store(type).get(id, now());
      return data ? { session: data.toString('base64') } : {};
    },
    async update({ type, id, session }) {
      await store(type).put(id, Buffer.from(session, 'base64'), now());
      return {};
    },
    async delete({ type, id }) {
      await store(type).delete(id);
      return {};
    },
    async ticketKey() {
      if (keyLifetime <= 0) return null;
      return shared ? sharedKey() : ring.key(now());
    },
    async sweep() {
      let n = 0;
      for (const s of stores.values()) n += await s.sweep(now());
      return n;
    },
    async close() {
      for (const s of stores.values()) await s.close();
    },
  };
}

export const main: ServiceMain = async (ctx: ServiceContext): Promise<ServiceInstance> => {
  const tables = tryUse(ctx.container, TABLES);
  const mgr = createTlsManager(ctx.config, Date.now, tables);
  const served = serveIpc(ctx, {
    [TLSMGR_METHOD.LOOKUP]: (a: TlsLookupArgs) => mgr.lookup(a),
    [TLSMGR_METHOD.UPDATE]: (a: TlsUpdateArgs) => mgr.update(a),
    [TLSMGR_METHOD.DELETE]: (a: TlsLookupArgs) => mgr.delete(a),
    [TLSMGR_METHOD.TKTKEY]: () => mgr.ticketKey(),
  });
  const timeouts = TLS_CACHE_TYPES.map((t) => ctx.config.time(`${t}_tls_session_cache_timeout`)).filter((t) => t > 0);
  const every = Math.max(1, Math.min(300, ...timeouts)) * 1000;
  const sweeper = setInterval(() => void mgr.sweep().catch((err: Error) => ctx.log.warn(`session cache cleanup: ${err.message}`)), every);
  sweeper.unref();
  return {
    async stop(graceful) {
      clearInterval(sweeper);
      await served.stop(graceful);
      await mgr.close();
    },
  };
};
