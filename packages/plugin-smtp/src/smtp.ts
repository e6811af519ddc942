/**
 * smtp(8) - Postfix SMTP client
 *
 * SYNOPSIS
 *   master.cf: smtp  unix - - n - - smtp
 *              relay unix - - n - - smtp
 *
 * DESCRIPTION
 *   The SMTP client processes delivery requests from the queue manager. Each
 *   request names a next-hop destination ("domain", "domain:port", "[host]",
 *   "[host]:port", a list of those, then $smtp_fallback_relay), a message and
 *   its recipients. The client looks up the servers (MX records by
 *   preference, random among equals, else the domain's A/AAAA records; no MX
 *   lookup for [host]), tries them in turn until one answers, and runs one
 *   ESMTP transaction: EHLO (HELO fallback), STARTTLS per the TLS policy,
 *   AUTH when a password is configured, MAIL FROM with SIZE, BODY=8BITMIME,
 *   SMTPUTF8, RET and ENVID, RCPT TO with NOTIFY and ORCPT, DATA. Each
 *   recipient is reported sent (2XX), bounced (5XX) or deferred (4XX, or the
 *   last server failed); a destination where no server answered is reported
 *   down, so qmgr throttles it. Sessions are reset and kept for the next
 *   request to the same destination (the connection cache); the delivery
 *   line shows conn_use=N for reused sessions.
 *
 *   The protocol engine and the rest are the shared SMTP/LMTP client of
 *   @postern/core (smtp-client/): the session (with PIPELINING), next-hop parsing,
 *   the resolver (NAME_RESOLVER, else DNS), TLS policy, SASL, generic maps,
 *   the 8BITMIME downgrade and the connection cache. Tests and benchmarks
 *   register a NAME_RESOLVER in the service's container, or set
 *   smtp_static_resolver_maps.
 *
 * PROTOCOL
 *   The DELIVER method of Postern's IPC on queue_directory/private/<service>
 *   (contracts/delivery.ts), through core's deliveryAgent skeleton; SMTP
 *   (RFC 5321) with PIPELINING, SIZE, 8BITMIME, SMTPUTF8, DSN, STARTTLS and
 *   AUTH toward the servers.
 *
 * CONFIGURATION PARAMETERS (Postfix defaults)
 *   smtp_connect_timeout (30s), smtp_helo_timeout (300s), smtp_mail_timeout
 *   (300s), smtp_rcpt_timeout (300s), smtp_data_init_timeout (120s),
 *   smtp_data_xfer_timeout (180s), smtp_data_done_timeout (600s),
 *   smtp_quit_timeout (300s), smtp_helo_name ($myhostname),
 *   smtp_bind_address, smtp_fallback_relay ($fallback_relay),
 *   smtp_mx_address_limit (5), smtp_mx_session_limit (2),
 *   smtp_dns_support_level, smtp_host_lookup (dns), smtp_generic_maps,
 *   smtp_header_checks, smtp_mime_header_checks, smtp_nested_header_checks,
 *   smtp_body_checks (restricted header_checks(5): applied as the content is
 *   sent; DUNNO, IGNORE, STRIP, INFO, WARN, REPLACE, PREPEND),
 *   smtp_tls_security_level, smtp_tls_policy_maps, smtp_tls_CAfile,
 *   smtp_tls_CApath, smtp_tls_cert_file, smtp_tls_key_file,
 *   smtp_tls_verify_cert_match (hostname), smtp_tls_secure_cert_match
 *   (nexthop, dot-nexthop), smtp_tls_protocols, smtp_tls_mandatory_protocols,
 *   smtp_tls_(mandatory_)ciphers, smtp_tls_(mandatory_)exclude_ciphers,
 *   smtp_sasl_auth_enable (no), smtp_sasl_password_maps,
 *   smtp_sasl_security_options (noplaintext, noanonymous),
 *   smtp_sasl_tls_security_options, smtp_sasl_mechanism_filter,
 *   smtp_connection_cache_on_demand (yes), smtp_connection_cache_time_limit
 *   (2s), smtp_connection_reuse_count_limit (0),
 *   smtp_connection_reuse_time_limit (300s), disable_mime_output_conversion
 *   (no), smtp_delivery_status_filter ($default_delivery_status_filter:
 *   applied once per recipient, to its final status); see README.md for
 *   the full table.
 *
 * SECURITY
 *   The client runs unprivileged and talks to untrusted servers: replies are
 *   cut at line_length_limit, a reply larger than 1 MiB ends the session,
 *   every command has a time limit. With the default SASL security options
 *   no password is sent over an unencrypted session; at the verify and
 *   secure levels the certificate chain and name are checked during the
 *   handshake, before anything is sent.
 */
import { clientAgent, clientPreInit, type ClientAgentInstance } from '@postern/smtp-client';
import { type ServiceContext, type ServiceMain, type ServicePreInit } from '@postern/core';

export type SmtpAgentInstance = ClientAgentInstance;

/** The smtp delivery agent of one service process. */
export function smtpAgent(ctx: ServiceContext): SmtpAgentInstance {
  return clientAgent(ctx, 'smtp');
}

export const main: ServiceMain = async (ctx) => smtpAgent(ctx);

/** Reads the client's TLS files while the process is privileged. */
export const preInit: ServicePreInit = clientPreInit('smtp');
