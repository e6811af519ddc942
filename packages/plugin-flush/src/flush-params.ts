import { SERVICE, type ParameterSpec } from '@postern/core';

/** The main.cf parameters flush(8) reads (Postfix names and defaults). */
export const PARAMETERS: readonly ParameterSpec[] = [
  {
    name: 'fast_flush_domains',
    default: '$relay_domains',
    type: 'list',
    description: 'Destinations that get a per-destination log of deferred mail (ETRN, sendmail -qR).',
  },
  {
    name: 'fast_flush_refresh_time',
    default: '12h',
    type: 'time',
    unit: 'h',
    description: 'Flush a non-empty per-destination log that was not read for this long.',
  },
  {
    name: 'fast_flush_purge_time',
    default: '7d',
    type: 'time',
    unit: 'd',
    description: 'Remove an empty per-destination log that was not updated for this long.',
  },
  {
    name: 'flush_service_name',
    default: SERVICE.FLUSH,
    type: 'string',
    description: 'The name of the flush(8) service (master.cf).',
  },
];
