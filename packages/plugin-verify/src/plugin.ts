/** The verify plugin's declaration (package.json "postern.plugin"): finding the plugins loads this, not the implementation. */
import { definePlugin, SERVICE } from '@postern/core';
import { PARAMETERS } from './verify-params.js';

export const plugin = definePlugin({
  name: '@postern/plugin-verify',
  version: '0.1.0',
  core: '^0.1.0',
  commands: {
    verify: {
      description: 'verify(8): address verification cache server (reject_unverified_recipient/sender)',
      load: () => import('./verify.js'),
    },
  },
  parameters: PARAMETERS,
  provides: [SERVICE.VERIFY],
  uses: [SERVICE.CLEANUP],
});

export default plugin;
