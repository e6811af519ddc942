import { token } from './token.js';

/**
 * The SASL server side of smtpd's AUTH command (Postfix's xsasl_server):
 * a mechanism exchange driven step by step, challenges and responses as base64 text.
 * Every payload is plain data so that the exchange works in-process and
 * across a unix socket alike. Backends: Dovecot's auth protocol
 * (smtpd_sasl_type = dovecot) and Postern's lookup-table backend.
 */

/** What the server knows about the client when an exchange starts. */
export interface SaslClientInfo {
  /** Client IP address. */
  readonly address?: string;
  /** Our own (local) IP address. */
  readonly localAddress?: string;
  readonly port?: number;
  readonly localPort?: number;
  /** True once the session is TLS-encrypted. */
  readonly secured?: boolean;
  /** smtpd_sasl_service ("smtp"). */
  readonly service: string;
  /** smtpd_sasl_local_domain, when set. */
  readonly realm?: string;
}

/** Options that restrict the mechanisms offered (smtpd_sasl_security_options). */
export interface SaslSecurityOptions {
  readonly noplaintext?: boolean;
  readonly noactive?: boolean;
  readonly nodictionary?: boolean;
  readonly noanonymous?: boolean;
  readonly mutual_auth?: boolean;
  readonly forward_secrecy?: boolean;
}

export interface SaslStartRequest {
  readonly mechanism: string;
  /** The initial response as base64 text (undefined: none given; "": "=" was given). */
  readonly initialResponse?: string;
  readonly client: SaslClientInfo;
}

/** One step's outcome. Buffers travel as base64 so the value stays JSON. */
export type SaslStep =
  | { readonly status: 'continue'; readonly id: string; /** base64 challenge */ readonly challenge: string }
  | { readonly status: 'ok'; readonly id: string; readonly username: string }
  | {
      readonly status: 'fail';
      readonly id: string;
      /** The reason for the log and the 535 reply text. */
      readonly reason: string;
      /** True: a temporary failure (454 4.7.0), e.g. the auth server is down. */
      readonly temporary?: boolean;
    };

export interface SaslServer {
  /** Mechanisms offered for a session with these security properties. */
  mechanisms(options: SaslSecurityOptions, client: SaslClientInfo): Promise<string[]>;
  /** Starts an exchange. */
  start(request: SaslStartRequest): Promise<SaslStep>;
  /** Continues exchange `id` with the client's response line (base64 text, as sent). */
  step(id: string, response: string): Promise<SaslStep>;
  /** Abandons exchange `id` (client sent "*", or went away). */
  abort(id: string): Promise<void>;
  close?(): Promise<void>;
}

export const SASL_SERVER = token<SaslServer>('SaslServer');
