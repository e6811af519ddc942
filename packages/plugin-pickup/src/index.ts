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
export { createPickupScanner, type PickupScanner } from './pickup.js';
export { pickupFile, type PickupFileOptions, type PickupOutcome } from './pickup-file.js';

