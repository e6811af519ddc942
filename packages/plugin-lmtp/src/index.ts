import { clientParameters } from '@postern/smtp-client';
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

export { main, lmtpAgent } from './lmtp.js';
