/** The flush plugin's declaration (package.json "postern.plugin"): finding the plugins loads this, not the implementation. */
import { definePlugin, SERVICE } from '@postern/core';
import { PARAMETERS } from './flush-params.js';

export const plugin = definePlugin({
  name: '@postern/plugin-flush',
  version: '0.1.0',
  core: '^0.1.0',
  commands: {
    flush: {
      description: 'flush(8): per-destination logs of deferred mail for ETRN, sendmail -qR and postqueue -s/-i',
      load: () => import('./flush.js'),
    },
  },
  parameters: PARAMETERS,
  provides: [SERVICE.FLUSH],
  uses: [SERVICE.QMGR],
});

export default plugin;
