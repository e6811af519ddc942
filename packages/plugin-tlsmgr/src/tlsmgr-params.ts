import type { ParameterSpec } from '@postern/core';

/** The main.cf parameters tlsmgr(8) reads (Postfix names and defaults). */
export const PARAMETERS: readonly ParameterSpec[] = [
  {
    name: 'smtpd_tls_session_cache_database',
    default: '',
    type: 'string',
    description: 'Where tlsmgr keeps smtpd TLS sessions (type:path, an LMDB file under data_directory when relative); empty: in tlsmgr memory.',
  },
  {
    name: 'smtpd_tls_session_cache_timeout',
    default: '3600s',
    type: 'time',
    description: 'Lifetime of an smtpd TLS session and of a session ticket key; 0 disables resumption.',
  },
  {
    name: 'smtp_tls_session_cache_database',
    default: '',
    type: 'string',
    description: 'Where tlsmgr keeps smtp client TLS sessions; empty: in tlsmgr memory.',
  },
  { name: 'smtp_tls_session_cache_timeout', default: '3600s', type: 'time', description: 'Lifetime of a cached smtp client TLS session; 0 disables the cache.' },
  {
    name: 'lmtp_tls_session_cache_database',
    default: '',
    type: 'string',
    description: 'Where tlsmgr keeps lmtp client TLS sessions; empty: in tlsmgr memory.',
  },
  { name: 'lmtp_tls_session_cache_timeout', default: '3600s', type: 'time', description: 'Lifetime of a cached lmtp client TLS session; 0 disables the cache.' },
  { name: 'tls_random_source', default: 'dev:/dev/urandom', type: 'string', description: 'No effect on Node: OpenSSL seeds its own CSPRNG from the OS.' },
  { name: 'tls_random_exchange_name', default: '${data_directory}/prng_exch', type: 'string', description: 'No effect on Node (no PRNG exchange file).' },
  { name: 'tls_random_bytes', default: '32', type: 'int', description: 'No effect on Node.' },
  { name: 'tls_random_prng_update_period', default: '3600s', type: 'time', description: 'No effect on Node.' },
  { name: 'tls_random_reseed_period', default: '3600s', type: 'time', description: 'No effect on Node (OpenSSL reseeds itself).' },
];
