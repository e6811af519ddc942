/**
 * The main.cf parameters trivial-rewrite(8) reads, with Postfix's defaults
 * (postconf -d), including the two that depend on compatibility_level:
 * append_dot_mydomain is yes below level 1 and no from level 1 on;
 * relay_domains is $mydestination below level 2 and empty from level 2 on.
 * Parameters core declares (myhostname, mydomain, myorigin, mydestination,
 * inet_interfaces, proxy_interfaces, recipient_delimiter,
 * parent_domain_matches_subdomains) are not repeated here.
 */
import { SERVICE, type ParameterSpec } from '@postern/core';

export const TRIVIAL_REWRITE_PARAMETERS: readonly ParameterSpec[] = [
  { name: 'append_at_myorigin', default: 'yes', type: 'bool', description: 'Append @$myorigin to an address without a domain (local context).' },
  { name: 'append_dot_mydomain', default: '${{$compatibility_level} <level {1} ? {yes} : {no}}', type: 'bool', description: 'Append .$mydomain to user@host when host has no dot (yes below compatibility_level 1, no from level 1).' },
  { name: 'swap_bangpath', default: 'yes', type: 'bool', description: 'Rewrite site!user into user@site.' },
  { name: 'allow_percent_hack', default: 'yes', type: 'bool', description: 'Rewrite user%domain into user@domain.' },
  { name: 'resolve_dequoted_address', default: 'yes', type: 'bool', description: 'Look inside quoted local parts for routing operators (@, %, !).' },
  { name: 'resolve_null_domain', default: 'no', type: 'bool', description: 'Resolve user@ as user@$myhostname instead of rejecting it.' },
  { name: 'resolve_numeric_domain', default: 'no', type: 'bool', description: 'Resolve user@ipaddress as user@[ipaddress].' },
  { name: 'remote_header_rewrite_domain', default: '', type: 'string', description: 'Domain appended to incomplete header addresses of remote clients; empty: no rewriting.' },
  { name: 'virtual_alias_domains', default: '$virtual_alias_maps', type: 'list', description: 'Virtual alias domains: every recipient needs a virtual_alias_maps entry.' },
  { name: 'virtual_mailbox_domains', default: '$virtual_mailbox_maps', type: 'list', description: 'Domains delivered by $virtual_transport.' },
  { name: 'virtual_mailbox_maps', default: '', type: 'table', description: 'Valid recipients of the virtual mailbox domains.' },
  { name: 'relay_domains', default: '${{$compatibility_level} <level {2} ? {$mydestination} : {}}', type: 'list', description: 'Domains this system relays to, delivered by $relay_transport ($mydestination below compatibility_level 2, empty from level 2).' },
  { name: 'local_transport', default: 'local:$myhostname', type: 'string', description: 'Transport[:nexthop] for domains in $mydestination and our [ip] literals.' },
  { name: 'virtual_transport', default: SERVICE.VIRTUAL, type: 'string', description: 'Transport[:nexthop] for $virtual_mailbox_domains.' },
  { name: 'relay_transport', default: SERVICE.RELAY, type: 'string', description: 'Transport[:nexthop] for $relay_domains.' },
  { name: 'default_transport', default: SERVICE.SMTP, type: 'string', description: 'Transport[:nexthop] for all other destinations.' },
  { name: 'relayhost', default: '', type: 'string', description: 'Nexthop for the relay and default classes: host, [host], host:port, [host]:port.' },
  { name: 'transport_maps', default: '', type: 'table', description: 'transport(5) tables: recipient or domain -> transport:nexthop.' },
  { name: 'relocated_maps', default: '', type: 'table', description: 'relocated(5) tables: recipients that moved (5.1.6 User has moved to ...).' },
  { name: 'sender_dependent_relayhost_maps', default: '', type: 'table', description: 'Per-sender relayhost overrides.' },
  { name: 'sender_dependent_default_transport_maps', default: '', type: 'table', description: 'Per-sender default_transport overrides.' },
  { name: 'empty_address_relayhost_maps_lookup_key', default: '<>', type: 'string', description: 'sender_dependent_relayhost_maps key for the null sender.' },
  { name: 'empty_address_default_transport_maps_lookup_key', default: '<>', type: 'string', description: 'sender_dependent_default_transport_maps key for the null sender.' },
  { name: 'empty_address_recipient', default: 'MAILER-DAEMON', type: 'string', description: 'Recipient that the null address resolves to.' },
  { name: 'double_bounce_sender', default: 'double-bounce', type: 'string', description: 'Sender of double bounces; never split at recipient_delimiter.' },
  { name: 'show_user_unknown_table_name', default: 'yes', type: 'bool', description: 'Name the table in "User unknown in virtual alias table".' },
];
