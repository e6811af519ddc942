import type { ParameterSpec } from '@postern/core';

/** The main.cf parameters anvil(8) reads (Postfix names and defaults). */
export const PARAMETERS: readonly ParameterSpec[] = [
  {
    name: 'anvil_rate_time_unit',
    default: '60s',
    type: 'time',
    description: 'The time unit over which client connection rates and other rates are calculated.',
  },
  {
    name: 'anvil_status_update_time',
    default: '600s',
    type: 'time',
    description: 'How frequently anvil(8) logs peak usage information.',
  },
];
