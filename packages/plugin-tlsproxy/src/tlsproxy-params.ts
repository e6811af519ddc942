import type { ParameterSpec } from '@postern/core';

/** The main.cf parameters tlsproxy(8) reads (Postfix names and defaults). */
export const PARAMETERS: readonly ParameterSpec[] = [
  { name: 'tlsproxy_tls_cert_file', default: '$smtpd_tls_cert_file', type: 'string', description: 'The server certificate (PEM, chain after it) of tlsproxy server sessions.' },
  { name: 'tlsproxy_tls_key_file', default: '$smtpd_tls_key_file', type: 'string', description: 'The private key (PEM) of tlsproxy_tls_cert_file.' },
  { name: 'tlsproxy_tls_loglevel', default: '$smtpd_tls_loglevel', type: 'int', description: '1 or more: log each TLS session established.' },
  { name: 'tlsproxy_watchdog_timeout', default: '10s', type: 'time', description: 'How long a request (and a TLS handshake) may take.' },
];
