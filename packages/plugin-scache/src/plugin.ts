/** The scache plugin's declaration (package.json "postern.plugin"): finding the plugins loads this, not the implementation. */
import { definePlugin, SERVICE } from '@postern/core';
import { PARAMETERS } from './scache-params.js';

export const plugin = definePlugin({
  name: '@postern/plugin-scache',
  version: '0.1.0',
  core: '^0.1.0',
  commands: {
    scache: {
      description: 'scache(8): the shared connection cache books (TTL limit, lookup statistics) for smtp and lmtp',
      load: () => import('./scache.js'),
      longRunning: true,
    },
  },
  parameters: PARAMETERS,
  provides: [SERVICE.SCACHE],
});

export default plugin;
