/**
 * The main.cf parameters cleanup(8) reads, with Postfix's defaults (postconf -d).
 * Core declares message_size_limit, header_size_limit, myhostname, myorigin,
 * mynetworks, inet_interfaces, proxy_interfaces and recipient_delimiter; the
 * trivial-rewrite package declares remote_header_rewrite_domain and
 * empty_address_recipient (repeated here with the same defaults, because
 * cleanup reads them too).
 */
import { MILTER_PARAMETERS } from '@postern/milter/params';
import type { ParameterSpec } from '@postern/core';

export const CLEANUP_PARAMETERS: readonly ParameterSpec[] = [
  { name: 'non_smtpd_milters', default: '', type: 'list', description: 'Milters for mail that does not arrive through smtpd (sendmail/pickup, qmqpd): inet:host:port, unix:pathname or { address, name=value ... }.' },
  ...MILTER_PARAMETERS,
  { name: 'canonical_maps', default: '', type: 'table', description: 'canonical(5) tables for sender and recipient addresses.' },
  { name: 'sender_canonical_maps', default: '', type: 'table', description: 'canonical(5) tables for sender addresses only.' },
  { name: 'recipient_canonical_maps', default: '', type: 'table', description: 'canonical(5) tables for recipient addresses only.' },
  { name: 'canonical_classes', default: 'envelope_sender, envelope_recipient, header_sender, header_recipient', type: 'list', description: 'Addresses canonical_maps applies to.' },
  { name: 'sender_canonical_classes', default: 'envelope_sender, header_sender', type: 'list', description: 'Addresses sender_canonical_maps applies to.' },
  { name: 'recipient_canonical_classes', default: 'envelope_recipient, header_recipient', type: 'list', description: 'Addresses recipient_canonical_maps applies to.' },
  { name: 'virtual_alias_maps', default: '$virtual_maps', type: 'table', description: 'virtual(5) alias tables: envelope recipient -> one or more addresses.' },
  { name: 'virtual_maps', default: '', type: 'table', description: 'Obsolete name of virtual_alias_maps.' },
  { name: 'virtual_alias_recursion_limit', default: '1000', type: 'int', description: 'Nesting limit of virtual alias expansion.' },
  { name: 'virtual_alias_expansion_limit', default: '1000', type: 'int', description: 'Most addresses one recipient may expand into.' },
  { name: 'masquerade_domains', default: '', type: 'list', description: 'Domains whose subdomains are stripped (`!domain`: do not masquerade).' },
  { name: 'masquerade_exceptions', default: '', type: 'list', description: 'Local parts that are never masqueraded.' },
  { name: 'masquerade_classes', default: 'envelope_sender, header_sender, header_recipient', type: 'list', description: 'Addresses masquerading applies to.' },
  { name: 'propagate_unmatched_extensions', default: 'canonical, virtual', type: 'list', description: 'Map kinds that carry an unmatched address extension into the result.' },
  { name: 'always_bcc', default: '', type: 'string', description: 'Address that receives a copy of every message.' },
  { name: 'sender_bcc_maps', default: '', type: 'table', description: 'Sender -> address that receives a copy.' },
  { name: 'recipient_bcc_maps', default: '', type: 'table', description: 'Recipient -> address that receives a copy.' },
  { name: 'header_checks', default: '', type: 'table', description: 'header_checks(5) patterns for the primary message headers.' },
  { name: 'mime_header_checks', default: '$header_checks', type: 'table', description: 'Patterns for MIME headers (Content-*, MIME-Version) and MIME part headers.' },
  { name: 'nested_header_checks', default: '$header_checks', type: 'table', description: 'Patterns for headers of attached messages (message/rfc822).' },
  { name: 'body_checks', default: '', type: 'table', description: 'body_checks(5) patterns, applied to each body line.' },
  { name: 'body_checks_size_limit', default: '51200', type: 'size', description: 'Only the first this many bytes of each body part are checked.' },
  { name: 'disable_mime_input_processing', default: 'no', type: 'bool', description: 'Treat everything after the primary headers as body: no MIME part headers for mime_header_checks, no attached-message headers for nested_header_checks, no strict_* MIME checks.' },
  { name: 'strict_7bit_headers', default: 'no', type: 'bool', description: 'Reject mail with 8-bit bytes in a message header ("5.6.0 improper use of 8-bit data in message header").' },
  { name: 'strict_8bitmime_body', default: 'no', type: 'bool', description: 'Reject mail with 8-bit bytes in a body part that is 7bit, declared or by default ("5.6.0 improper use of 8-bit data in message body").' },
  { name: 'strict_8bitmime', default: 'no', type: 'bool', description: 'Both strict_7bit_headers and strict_8bitmime_body.' },
  { name: 'strict_mime_encoding_domain', default: 'no', type: 'bool', description: 'Reject a multipart/* or message/rfc822 entity encoded quoted-printable or base64, or a message/partial or message/external-body one that is 8bit or binary ("5.6.0 invalid message/* or multipart/* encoding domain").' },
  { name: 'hopcount_limit', default: '50', type: 'int', description: 'Most Received: headers before a message is rejected.' },
  { name: 'undisclosed_recipients_header', default: '', type: 'string', description: 'Header added when there is no To: or Cc: (e.g. "To: undisclosed-recipients:;").' },
  { name: 'always_add_missing_headers', default: 'no', type: 'bool', description: 'Add missing From:/Date:/Message-Id:/To: for every client, not only local_header_rewrite_clients.' },
  { name: 'local_header_rewrite_clients', default: 'permit_inet_interfaces', type: 'list', description: 'Clients whose headers are rewritten in the local context.' },
  { name: 'message_drop_headers', default: 'bcc, content-length, resent-bcc, return-path', type: 'list', description: 'Headers removed from every message.' },
  { name: 'header_from_format', default: 'standard', type: 'string', description: 'Form of an added From: with a full name: standard ("Name <addr>") or obsolete ("addr (Name)").' },
  { name: 'remote_header_rewrite_domain', default: '', type: 'string', description: 'Domain for incomplete header addresses of clients outside local_header_rewrite_clients; empty: no header rewriting for them.' },
  { name: 'empty_address_recipient', default: 'MAILER-DAEMON', type: 'string', description: 'Recipient that the null address stands for.' },
  { name: 'double_bounce_sender', default: 'double-bounce', type: 'string', description: 'Sender of double bounces; never split at recipient_delimiter.' },
  { name: 'content_filter', default: '', type: 'string', description: 'transport:destination that receives every new message before delivery.' },
  { name: 'duplicate_filter_limit', default: '1000', type: 'int', description: 'Most recipients remembered for duplicate removal.' },
  { name: 'enable_original_recipient', default: 'yes', type: 'bool', description: 'Keep the original recipient address with each recipient.' },
];
