import type { ParameterSpec } from '@postern/core';
import { DNS_PARAMETERS } from '@postern/dns/params';

/** The main.cf parameters dnsblog(8) reads (Postfix names and defaults). */
export const PARAMETERS: readonly ParameterSpec[] = [
  {
    name: 'dnsblog_reply_delay',
    default: '0s',
    type: 'time',
    description: 'A debugging aid to artificially delay DNS responses.',
  },
  ...DNS_PARAMETERS,
];
