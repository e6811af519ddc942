/**
 * scache(8) as a contract (Postfix's scache.h): the requests smtp and lmtp
 * processes send to the shared connection cache service, and their replies.
 * The client is @postern/smtp-client's scacheLink; the server plugin-scache.
 */

/** The two label kinds a session is filed under: its destination, its endpoint. */
export type SessionCacheKind = 'dest' | 'endp';

/** scache request names (scache.h SCACHE_REQ_*). */
export const SCACHE_METHOD = {
  SAVE: 'scache.save',
  FIND: 'scache.find',
  DROP: 'scache.drop',
} as const;

export interface ScacheSaveArgs {
  /** Destination label, then endpoint label. */
  readonly labels: readonly { readonly kind: SessionCacheKind; readonly label: string }[];
  /** The parked session: "pid:serial". */
  readonly owner: string;
  /** Seconds the client wants the session kept. */
  readonly ttl: number;
}
export interface ScacheSaveReply {
  /** Seconds granted (at most connection_cache_ttl_limit). */
  readonly ttl: number;
}
export interface ScacheFindArgs {
  readonly kind: SessionCacheKind;
  readonly label: string;
  readonly pid: number;
  /** The session the lookup found (and took), if any. */
  readonly owner?: string;
  /** After a local miss: name a session another process parked under the label, and take it off the books. */
  readonly want?: boolean;
}
export interface ScacheFindReply {
  readonly hit: boolean;
  /** Sessions under this label parked by other processes. */
  readonly elsewhere: number;
  /** With `want`: the session to ask its process for ("pid:serial"). */
  readonly owner?: string;
}
export interface ScacheDropArgs {
  readonly owner: string;
}

/** Where SharedSessionCache sends its books. */
export interface ScacheLink {
  save(args: ScacheSaveArgs): void;
  find(args: ScacheFindArgs): void;
  drop(args: ScacheDropArgs): void;
  /** A find with `want`, waiting for the answer (undefined when scache cannot be reached). */
  want(args: ScacheFindArgs): Promise<ScacheFindReply | undefined>;
}
