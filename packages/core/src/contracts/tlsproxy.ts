/**
 * tlsproxy(8) as a contract: the TLS engine that postscreen(8) uses for
 * STARTTLS in its dummy SMTP engine (tlsproxy.c, tls_proxy_client_*). As in
 * Postfix, tlsproxy holds the client's socket and speaks TLS on it, and the
 * caller speaks plain text with tlsproxy over its own connection:
 *
 *   1. the caller connects to private/$tlsproxy_service_name and writes one
 *      JSON line, a {@link TlsproxyRequest};
 *   2. tlsproxy answers one JSON line, {@link TlsproxyHello}, naming its pid;
 *   3. the caller relays the client socket to that pid through master
 *      (core's service/relay.ts; data { tlsproxy: nonce }), reading nothing
 *      from it any more;
 *   4. tlsproxy writes `reply` ("220 2.0.0 Ready to start TLS") to the
 *      client, performs the server handshake, and answers one JSON line,
 *      {@link TlsproxyResult}; after a success the connection carries the
 *      session's plain text both ways until either side closes.
 *
 * Payloads are plain data; a socket crosses processes only through master.
 */

/** Step 1. */
export interface TlsproxyRequest {
  /** Pairs the relayed socket with this connection. */
  readonly nonce: string;
  readonly role: 'server';
  /** "[addr]:port" of the remote SMTP client, for the logs. */
  readonly remote: string;
  /** The calling service ("postscreen"), for the logs. */
  readonly service: string;
  /** Written to the client before the handshake. */
  readonly reply: string;
}

/** Step 2. */
export interface TlsproxyHello {
  readonly pid: number;
}

/** Step 4. */
export type TlsproxyResult =
  | { readonly status: 'ok'; readonly protocol: string; readonly cipher: string; readonly bits: number }
  | { readonly status: 'error'; readonly reason: string };

/** The relay message of step 3. */
export interface TlsproxyRelay {
  readonly tlsproxy: string;
}
