/** The milter parameters (Postfix 3.7's names and defaults), for the schemas of the plugins that use milters. */
export const MILTER_PARAMETERS = [
  { name: 'milter_protocol', default: '6', type: 'int', description: 'The milter protocol version the MTA speaks (2-6).' },
  { name: 'milter_default_action', default: 'tempfail', type: 'string', description: 'What a milter that fails gives: accept, reject, tempfail, quarantine or shutdown.' },
  { name: 'milter_connect_timeout', default: '30s', type: 'time', description: 'Time limit for connecting to a milter and negotiating.' },
  { name: 'milter_command_timeout', default: '30s', type: 'time', description: 'Time limit for a milter to answer an SMTP event.' },
  { name: 'milter_content_timeout', default: '300s', type: 'time', description: 'Time limit for a milter to take message content and answer it.' },
  { name: 'milter_connect_macros', default: 'j {daemon_name} {daemon_addr} v _', type: 'list', description: 'Macros sent with the connect event.' },
  { name: 'milter_helo_macros', default: '{tls_version} {cipher} {cipher_bits} {cert_subject} {cert_issuer}', type: 'list', description: 'Macros sent with HELO/EHLO.' },
  { name: 'milter_mail_macros', default: 'i {auth_type} {auth_authen} {auth_author} {mail_addr} {mail_host} {mail_mailer}', type: 'list', description: 'Macros sent with MAIL FROM.' },
  { name: 'milter_rcpt_macros', default: 'i {rcpt_addr} {rcpt_host} {rcpt_mailer}', type: 'list', description: 'Macros sent with RCPT TO.' },
  { name: 'milter_data_macros', default: 'i', type: 'list', description: 'Macros sent with DATA.' },
  { name: 'milter_end_of_header_macros', default: 'i', type: 'list', description: 'Macros sent with the headers and the end of headers.' },
  { name: 'milter_end_of_data_macros', default: 'i', type: 'list', description: 'Macros sent with the end of the message.' },
  { name: 'milter_macro_daemon_name', default: '$myhostname', type: 'string', description: 'The {daemon_name} macro.' },
  { name: 'milter_macro_v', default: '$mail_name $mail_version', type: 'string', description: 'The v macro.' },
  { name: 'milter_header_checks', default: '', type: 'table', description: 'header_checks(5) tables for the headers milters add, insert or change (not the message\'s own): every header_checks action except PREPEND (Postfix 2.7).' },
  { name: 'milter_macro_defaults', default: '', type: 'string', description: 'name=value or {name=value} pairs: macro values sent when the session has none (Postfix 3.1).' },
] as const;
