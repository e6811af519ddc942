/** The plugin manifest: what the plugin loader imports (package.json postern.plugin), nothing of the implementation. */
import { definePlugin, SERVICE } from '@postern/core';
import { SMTPD_PARAMETERS } from './smtpd-params.js';
import { SMTPD_RESTRICTIONS } from './smtpd-restriction-names.js';

export const plugin = definePlugin({
  name: '@postern/plugin-smtpd',
  version: '0.1.0',
  core: '^0.1.0',
  commands: {
    smtpd: {
      description: 'Postfix smtpd(8): the SMTP server (smtp, submission and smtps services)',
      load: () => import('./smtpd.js'),
    },
  },
  parameters: SMTPD_PARAMETERS,
  restrictions: SMTPD_RESTRICTIONS,
  uses: [SERVICE.CLEANUP, SERVICE.REWRITE],
  mayUse: [SERVICE.ANVIL, SERVICE.VERIFY, SERVICE.FLUSH],
});

export default plugin;
