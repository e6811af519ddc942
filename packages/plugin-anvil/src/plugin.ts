/** The anvil plugin's declaration (package.json "postern.plugin"): finding the plugins loads this, not the implementation. */
import { definePlugin, SERVICE } from '@postern/core';
import { PARAMETERS } from './anvil-params.js';

export const plugin = definePlugin({
  name: '@postern/plugin-anvil',
  version: '0.1.0',
  core: '^0.1.0',
  commands: {
    anvil: {
      description: 'anvil(8): per-client connection count and request rate server for smtpd limits',
      load: () => import('./anvil.js'),
      longRunning: true,
    },
  },
  parameters: PARAMETERS,
  provides: [SERVICE.ANVIL],
  uses: [],
});

export default plugin;
