/** The metrics plugin's declaration (package.json "postern.plugin"): finding the plugins loads this, not the implementation. */
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

export default plugin;
