import { definePlugin, SERVICE } from '@postern/core';
import { PARAMETERS } from './tlsmgr-params.js';

export const plugin = definePlugin({
  name: '@postern/plugin-tlsmgr',
  version: '0.1.0',
  core: '^0.1.0',
  commands: {
    tlsmgr: {
      description: 'tlsmgr(8): shared TLS session caches and the smtpd session ticket key',
      load: () => import('./tlsmgr.js'),
      longRunning: true,
    },
  },
  parameters: PARAMETERS,
  provides: [SERVICE.TLSMGR],
});

export { createTlsManager, type TlsManager } from './tlsmgr.js';
export { openTlsStore, cacheDatabasePath, type TlsStore } from './tlsmgr-store.js';
export { PARAMETERS } from './tlsmgr-params.js';
