import { definePlugin } from '@postern/core';
import { PARAMETERS } from './metrics-params.js';

export const plugin = definePlugin({
  name: '@postern/plugin-metrics',
  version: '0.1.0',
  core: '^0.1.0',
  commands: {
    metrics: {
      description: 'metrics: Prometheus exposition of the mail log and the queue sizes (postfix_exporter names)',
      load: () => import('./metrics.js'),
      longRunning: true,
    },
  },
  parameters: PARAMETERS,
  uses: [],
});

export { MetricsCollector } from './metrics.js';
export { observeLine, parseLogLine, rejectReason } from './metrics-log.js';
export { LogFollower } from './metrics-tail.js';
export { PARAMETERS } from './metrics-params.js';
