/** The qmgr plugin's declaration (package.json "postern.plugin"): finding the plugins loads this, not the implementation. */
import { definePlugin, SERVICE } from '@postern/core';
import { PARAMETERS } from './qmgr-params.js';

export const plugin = definePlugin({
  name: '@postern/plugin-qmgr',
  version: '0.1.0',
  core: '^0.1.0',
  commands: {
    qmgr: {
      description: 'qmgr(8): the queue manager (incoming/deferred -> active -> delivery agents)',
      load: () => import('./qmgr.js'),
    },
    // Postfix 3.7's master.cf.dist offers oqmgr, the old queue manager; Postern has one
    // queue manager, so the name runs qmgr(8) (the README says how they differ).
    oqmgr: {
      description: 'oqmgr(8): the old queue manager, served by qmgr(8)',
      load: () => import('./qmgr.js'),
    },
  },
  parameters: PARAMETERS,
  provides: [SERVICE.QMGR],
  uses: [SERVICE.REWRITE, SERVICE.BOUNCE],
});

export default plugin;
