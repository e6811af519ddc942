/**
 * tlsmgr(8) as a contract (Postfix's tls_mgr.h): the requests smtpd, smtp
 * and lmtp processes send to the TLS session cache and ticket key manager,
 * and the cache each program sees. The client is @postern/smtp-client's
 * tlsSessionCache; the server plugin-tlsmgr.
 */

/** tlsmgr request names (tls_mgr.h TLS_MGR_REQ_*). */
export const TLSMGR_METHOD = {
  LOOKUP: 'tlsmgr.lookup',
  UPDATE: 'tlsmgr.update',
  DELETE: 'tlsmgr.delete',
  TKTKEY: 'tlsmgr.tktkey',
} as const;

/** The caches tlsmgr keeps (tls_mgr.h TLS_MGR_SCACHE_*): one per program. */
export type TlsCacheType = 'smtpd' | 'smtp' | 'lmtp';
export const TLS_CACHE_TYPES: readonly TlsCacheType[] = ['smtpd', 'smtp', 'lmtp'];

/** The session ticket key smtpd processes share. */
export interface TlsTicketKey {
  /** Key name (the first 16 bytes of `keys`), hex, for logs. */
  readonly name: string;
  /** 48 bytes for tls.createSecureContext({ ticketKeys }), base64. */
  readonly keys: string;
  /** When tlsmgr makes the next key (ms since the epoch). */
  readonly expires: number;
}

export interface TlsLookupArgs {
  readonly type: TlsCacheType;
  readonly id: string;
}
export interface TlsUpdateArgs extends TlsLookupArgs {
  /** Serialized session, base64. */
  readonly session: string;
}

export interface TlsSessionCache {
  readonly type: TlsCacheType;
  /** Seconds a session is kept (<type>_tls_session_cache_timeout). */
  readonly timeout: number;
  /** true when sessions go to the tlsmgr service (shared by all processes). */
  readonly shared: boolean;
  get(id: string): Promise<Buffer | undefined>;
  put(id: string, session: Buffer): Promise<void>;
  remove(id: string): Promise<void>;
  /** smtpd: the shared ticket key; undefined without tlsmgr. */
  ticketKey(): Promise<TlsTicketKey | undefined>;
}
