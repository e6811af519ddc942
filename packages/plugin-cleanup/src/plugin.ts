/** The cleanup plugin's declaration (package.json "postern.plugin"): finding the plugins loads this, not the implementation. */
import { definePlugin, SERVICE } from '@postern/core';
import { CLEANUP_PARAMETERS } from './cleanup-params.js';

export const plugin = definePlugin({
  name: '@postern/plugin-cleanup',
  version: '0.1.0',
  core: '^0.1.0',
  commands: {
    cleanup: {
      description: 'canonicalize and enqueue messages (Postfix cleanup(8))',
      load: () => import('./cleanup.js'),
    },
  },
  parameters: CLEANUP_PARAMETERS,
  provides: [SERVICE.CLEANUP],
  uses: [SERVICE.REWRITE],
  mayUse: [SERVICE.QMGR],
});

export default plugin;
