import type { ParameterSpec } from '@postern/core';

/** The main.cf parameters scache(8) reads (Postfix names and defaults). */
export const PARAMETERS: readonly ParameterSpec[] = [
  { name: 'connection_cache_ttl_limit', default: '2s', type: 'time', description: 'The longest time a session may stay in the cache (caps the time the client asks for).' },
  { name: 'connection_cache_status_update_time', default: '600s', type: 'time', description: 'How often scache logs its statistics.' },
  { name: 'connection_cache_protocol_timeout', default: '5s', type: 'time', description: 'Time limit for a call between an smtp/lmtp process and scache.' },
];
