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
export { SMTPD_PARAMETERS } from './smtpd-params.js';
export { createSmtpd, createSmtpdMain, type Smtpd, type SmtpdOptions } from './smtpd.js';
export { createHookRegistry, loadSmtpdPlugins, pluginContext } from './smtpd-hooks.js';
export { SMTPD_RESTRICTIONS } from './smtpd-restriction-names.js';
export { DovecotSasl, TableSasl, createSaslServer, verifyPassword, securityOptions } from './smtpd-sasl.js';
export { networkMatcher, mynetworksList, defaultMynetworks } from './smtpd-peer.js';
