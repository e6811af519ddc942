/** The error plugin's declaration (package.json "postern.plugin"): finding the plugins loads this, not the implementation. */
import { definePlugin, SERVICE } from '@postern/core';

export const plugin = definePlugin({
  name: '@postern/plugin-error',
  version: '0.1.0',
  core: '^0.1.0',
  commands: {
    error: {
      description: 'error(8): bounce (service error) or defer (service retry) every recipient with the next-hop text',
      load: () => import('./error.js'),
    },
  },
  parameters: [
    { name: 'error_destination_recipient_limit', default: '$default_destination_recipient_limit', type: 'int', description: 'recipients per delivery request to the error transport (read by qmgr)' },
    { name: 'error_destination_concurrency_limit', default: '$default_destination_concurrency_limit', type: 'int', description: 'parallel deliveries per destination on the error transport (read by qmgr)' },
    { name: 'retry_destination_recipient_limit', default: '$default_destination_recipient_limit', type: 'int', description: 'recipients per delivery request to the retry transport (read by qmgr)' },
    { name: 'retry_destination_concurrency_limit', default: '$default_destination_concurrency_limit', type: 'int', description: 'parallel deliveries per destination on the retry transport (read by qmgr)' },
  ],
  provides: [SERVICE.ERROR, SERVICE.RETRY],
  uses: [SERVICE.BOUNCE],
  mayUse: [SERVICE.FLUSH, SERVICE.VERIFY],
});

export default plugin;
