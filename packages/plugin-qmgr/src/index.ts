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

export { createQmgr, QMGR_PROCESS_LIMITS, type QmgrInstance, type QmgrOptions, type QmgrStats } from './qmgr.js';
export { PARAMETERS, readQmgrParams, readTransportParams, type QmgrParams, type TransportParams } from './qmgr-params.js';
export { backoffDelay } from './qmgr-defer.js';
