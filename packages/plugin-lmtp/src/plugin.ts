/** The plugin manifest: what the plugin loader imports (package.json postern.plugin), nothing of the implementation. */
import { clientParameters } from '@postern/smtp-client/params';
import { definePlugin, SERVICE } from '@postern/core';

export const plugin = definePlugin({
  name: '@postern/plugin-lmtp',
  version: '0.1.0',
  core: '^0.1.0',
  commands: {
    lmtp: {
      description: 'lmtp(8): deliver to LMTP servers over unix: or inet: next-hops',
      load: () => import('./lmtp.js'),
    },
  },
  parameters: clientParameters('lmtp'),
  provides: [SERVICE.LMTP],
  uses: [SERVICE.BOUNCE],
  mayUse: [SERVICE.FLUSH, SERVICE.VERIFY],
});
