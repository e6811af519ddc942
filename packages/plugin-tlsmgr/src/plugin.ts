/** The tlsmgr plugin's declaration (package.json "postern.plugin"): finding the plugins loads this, not the implementation. */
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

export default plugin;
