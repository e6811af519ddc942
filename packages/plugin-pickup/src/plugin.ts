/** The pickup plugin's declaration (package.json "postern.plugin"): finding the plugins loads this, not the implementation. */
import { definePlugin, SERVICE } from '@postern/core';

export const plugin = definePlugin({
  name: '@postern/plugin-pickup',
  version: '0.1.0',
  core: '^0.1.0',
  commands: {
    pickup: {
      description: 'Postfix pickup(8): local mail pickup (maildrop queue -> cleanup)',
      load: () => import('./pickup.js'),
    },
  },
  parameters: [],
  provides: [SERVICE.PICKUP],
  uses: [SERVICE.CLEANUP],
});

export default plugin;
