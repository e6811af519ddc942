/**
 * lmtp(8) - Postfix local mail transfer protocol client
 *
 * SYNOPSIS
 *   master.cf: lmtp unix - - n - - lmtp
 *
 * DESCRIPTION
 *   The LMTP client processes delivery requests from the queue manager and
 *   hands the message to an LMTP server (RFC 2033), typically a mailbox
 *   store such as Dovecot. Next-hops: "unix:/path" (a UNIX-domain socket),
 *   "inet:host:port", "host", "[host]", "[host]:port" (default port
 *   $lmtp_tcp_port, 24; no MX lookups for [host]). The client sends LHLO,
 *   STARTTLS and AUTH as the lmtp_tls_* and lmtp_sasl_* parameters say, MAIL
 *   FROM, one RCPT TO per recipient and DATA, then reads one reply per
 *   accepted recipient: each recipient is sent (2XX), bounced (5XX) or
 *   deferred (4XX) on its own reply. Sessions are reset and kept for the
 *   next request to the same destination (conn_use=N in the delivery line).
 *
 *   The protocol engine and the rest are the shared client of
 *   @postern/core (smtp-client/), in LMTP mode.
 *
 * PROTOCOL
 *   The DELIVER method of Postern's IPC on queue_directory/private/<service>
 *   (contracts/delivery.ts); LMTP toward the server.
 *
 * CONFIGURATION PARAMETERS (Postfix defaults)
 *   lmtp_tcp_port (24), lmtp_connect_timeout (0s: none), lmtp_lhlo_timeout
 *   (300s), lmtp_mail_timeout (300s), lmtp_rcpt_timeout (300s),
 *   lmtp_data_init_timeout (120s), lmtp_data_xfer_timeout (180s),
 *   lmtp_data_done_timeout (600s), lmtp_lhlo_name ($myhostname),
 *   lmtp_tls_security_level, lmtp_tls_policy_maps, lmtp_tls_CAfile,
 *   lmtp_sasl_auth_enable (no), lmtp_sasl_password_maps,
 *   lmtp_sasl_security_options (noplaintext, noanonymous),
 *   lmtp_connection_cache_on_demand (yes), lmtp_connection_cache_time_limit
 *   (2s), lmtp_header_checks, lmtp_mime_header_checks,
 *   lmtp_nested_header_checks, lmtp_body_checks (restricted header_checks(5)
 *   as the content is sent), lmtp_delivery_status_filter
 *   ($default_delivery_status_filter); see README.md for the full table.
 *
 * SECURITY
 *   The client runs unprivileged. Replies are cut at line_length_limit, every
 *   command has a time limit, and with the default SASL options no password
 *   is sent over an unencrypted TCP session.
 */
import { clientAgent, clientPreInit, type ClientAgentInstance } from '@postern/smtp-client';
import { type ServiceContext, type ServiceMain, type ServicePreInit } from '@postern/core';

export type LmtpAgentInstance = ClientAgentInstance;

/** The lmtp delivery agent of one service process. */
export function lmtpAgent(ctx: ServiceContext): LmtpAgentInstance {
  return clientAgent(ctx, 'lmtp');
}

export const main: ServiceMain = async (ctx) => lmtpAgent(ctx);

/** Reads the client's TLS files while the process is privileged. */
export const preInit: ServicePreInit = clientPreInit('lmtp');
