import type { ParameterSpec } from '@postern/core';

/** The main.cf parameters the metrics service reads (Postern-only; Postfix has no such daemon). */
export const PARAMETERS: readonly ParameterSpec[] = [
  {
    name: 'metrics_log_file',
    default: '$maillog_file',
    type: 'string',
    description: 'The Postfix-shaped log the metrics service follows (rotation is noticed); empty: no log-based metrics.',
  },
  {
    name: 'metrics_path',
    default: '/metrics',
    type: 'string',
    description: 'The HTTP path of the Prometheus text exposition.',
  },
  {
    name: 'metrics_poll_interval',
    default: '1s',
    type: 'time',
    unit: 's',
    description: 'How often the log is checked for new lines (besides the file-change events).',
  },
];
