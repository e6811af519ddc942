import type { ParameterSpec } from '@postern/core';

/** The parameters every user of this resolver declares (same defaults, so declaring twice is fine). */
export const DNS_PARAMETERS: readonly ParameterSpec[] = [
  {
    name: 'postern_dns_servers',
    default: '',
    type: 'list',
    description:
      'Postern extension: the DNS servers (address or address:port) for DNS allow/denylist lookups; empty: those of /etc/resolv.conf.',
  },
];
