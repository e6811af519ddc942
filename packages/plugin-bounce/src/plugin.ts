/** The bounce plugin's declaration (package.json "postern.plugin"): finding the plugins loads this, not the implementation. */
import { definePlugin, SERVICE } from '@postern/core';
import { BOUNCE_PARAMETERS } from './bounce-params.js';

export const plugin = definePlugin({
  name: '@postern/plugin-bounce',
  version: '0.1.0',
  core: '^0.1.0',
  commands: {
    bounce: {
      description: 'bounce(8): per-message delivery logs and RFC 3464 delivery status notifications (bounce, defer, trace)',
      load: () => import('./bounce.js'),
    },
  },
  parameters: BOUNCE_PARAMETERS,
  provides: [SERVICE.BOUNCE],
  uses: [SERVICE.CLEANUP],
});

export default plugin;
