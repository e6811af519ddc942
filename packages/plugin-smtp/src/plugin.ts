/** The plugin manifest: what the plugin loader imports (package.json postern.plugin), nothing of the implementation. */
import { clientParameters } from '@postern/smtp-client/params';
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
