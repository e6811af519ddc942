/**
 * trivial-rewrite - Postfix-compatible address rewriting and resolving
 *
 * SYNOPSIS
 *   master.cf:  rewrite  unix  -  -  n  -  -  trivial-rewrite
 *
 * DESCRIPTION
 *   The trivial-rewrite daemon serves the `rewrite` contract
 *   (RewriteService) on queue_directory/private/rewrite for cleanup(8),
 *   smtpd(8), qmgr(8) and the other daemons:
 *
 *   rewrite(context, address)
 *     Rewrites an address to user@fully.qualified.domain: strips source
 *     routes, swaps site!user (swap_bangpath), turns user%domain into
 *     user@domain (allow_percent_hack), appends @$myorigin
 *     (append_at_myorigin) and .$mydomain (append_dot_mydomain). The
 *     `remote` context appends $remote_header_rewrite_domain instead, and
 *     nothing when that is empty.
 *
 *   resolve(address, sender)
 *     Resolves a recipient to its ADDRESS_CLASS_README class (local, virtual
 *     alias, virtual mailbox, relay, default), a transport and a nexthop,
 *     applying transport_maps (transport(5)) and relocated_maps, with the
 *     flags final, routed, error and fail.
 *
 * PROTOCOL
 *   Postern IPC (core's serveRewrite): methods `rewrite` and `resolve`.
 *   Answers are cached per process; a failed table lookup gives the `fail`
 *   flag (try again later) and is not cached.
 *
 * CONFIGURATION PARAMETERS
 *   append_at_myorigin (yes), append_dot_mydomain (no), swap_bangpath (yes),
 *   allow_percent_hack (yes), resolve_dequoted_address (yes),
 *   resolve_null_domain (no), resolve_numeric_domain (no),
 *   remote_header_rewrite_domain (empty), myorigin ($myhostname),
 *   mydomain, myhostname, mydestination, inet_interfaces (all),
 *   proxy_interfaces (empty), virtual_alias_domains ($virtual_alias_maps),
 *   virtual_mailbox_domains ($virtual_mailbox_maps), relay_domains (empty),
 *   local_transport (local:$myhostname), virtual_transport (virtual),
 *   relay_transport (relay), default_transport (smtp), relayhost (empty),
 *   transport_maps (empty), relocated_maps (empty),
 *   sender_dependent_relayhost_maps, sender_dependent_default_transport_maps,
 *   parent_domain_matches_subdomains, recipient_delimiter (empty),
 *   empty_address_recipient (MAILER-DAEMON), show_user_unknown_table_name (yes).
 *
 * SECURITY
 *   trivial-rewrite reads no message content and writes no files; it only
 *   reads tables. It runs as the mail system's unprivileged user and is
 *   reachable only through the private socket directory. Regexp table
 *   $1 substitution in transport_maps is the table's business; results are
 *   used as transport names and nexthops only.
 */
import { serveRewrite, TABLES, use, type ServiceMain } from '@postern/core';
import { TrivialRewrite } from './trivial-rewrite-service.js';

export const main: ServiceMain = async (ctx) => {
  const tables = use(ctx.container, TABLES);
  const impl = new TrivialRewrite(ctx.config, tables, ctx.log);
  return serveRewrite(ctx, impl);
};
