import type { ParameterSpec } from '@postern/core';

/**
 * The main.cf parameters postlogd(8) reads beyond core's maillog_file,
 * line_length_limit, syslog_name and myhostname (Postfix names and defaults).
 */
export const PARAMETERS: readonly ParameterSpec[] = [
  {
    name: 'postlogd_watchdog_timeout',
    default: '10s',
    type: 'time',
    description: 'How much time postlogd(8) may spend on one request (here: a connection stalled inside a record is dropped then).',
  },
];
