/** The discard plugin's declaration (package.json "postern.plugin"): finding the plugins loads this, not the implementation. */
import { definePlugin, SERVICE } from '@postern/core';

export const plugin = definePlugin({
  name: '@postern/plugin-discard',
  version: '0.1.0',
  core: '^0.1.0',
  commands: {
    discard: {
      description: 'discard(8): report every recipient delivered without delivering (relay=none)',
      load: () => import('./discard.js'),
    },
  },
  parameters: [
    { name: 'discard_destination_recipient_limit', default: '$default_destination_recipient_limit', type: 'int', description: 'recipients per delivery request to the discard transport (read by qmgr)' },
    { name: 'discard_destination_concurrency_limit', default: '$default_destination_concurrency_limit', type: 'int', description: 'parallel deliveries per destination on the discard transport (read by qmgr)' },
  ],
  provides: [SERVICE.DISCARD],
  uses: [SERVICE.BOUNCE],
  mayUse: [SERVICE.FLUSH, SERVICE.VERIFY],
});

export default plugin;
