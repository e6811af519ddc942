import { clientParameters } from '@postern/smtp-client';
import { definePlugin, SERVICE } from '@postern/core';

export const plugin = definePlugin({
  name: '@postern/plugin-smtp',
  version: '0.1.0',
  core: '^0.1.0',
  commands: {
    smtp: {
      description: 'smtp(8): deliver to remote SMTP servers (master.cf services smtp and relay)',
      load: () => import('./smtp.js'),
    },
  },
  parameters: clientParameters('smtp'),
  provides: [SERVICE.SMTP],
  uses: [SERVICE.BOUNCE],
  mayUse: [SERVICE.FLUSH, SERVICE.VERIFY],
});

export { main, smtpAgent } from './smtp.js';
