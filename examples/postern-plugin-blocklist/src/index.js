/**
 * postern-plugin-blocklist: a complete third-party Postern plugin.
 *
 * - `plugin` (definePlugin) is what Postern's plugin loader reads: the
 *   package's parameters (postconf shows them, main.cf may set them), the
 *   master.cf command it provides (blocklist-report) and the smtpd
 *   restriction names it provides (postern check knows them).
 * - the default export is the smtpd plugin that a main.cf names in
 *   postern_smtpd_plugins: the restriction itself.
 */
import { definePlugin } from '@postern/core';
import { rejectBlocklistedSender } from './restriction.js';

export const plugin = definePlugin({
  name: 'postern-plugin-blocklist',
  version: '1.0.0',
  core: '^0.1.0',
  commands: {
    'blocklist-report': {
      description: 'reports the sender domains that reject_blocklisted_sender refuses',
      load: () => import('./report.js'),
    },
  },
  parameters: [
    { name: 'blocklist_sender_domains', default: '', type: 'list', description: 'Sender domains (and their subdomains) that reject_blocklisted_sender refuses.' },
    { name: 'blocklist_reject_code', default: '554', type: 'int', description: 'The SMTP reply code of a refused sender.' },
    { name: 'blocklist_reply_text', default: 'Sender domain is blocklisted', type: 'string', description: 'The text of the reject reply.' },
  ],
  restrictions: ['reject_blocklisted_sender'],
});

/** @type {import('@postern/core').SmtpdPlugin} */
export default {
  name: 'blocklist',
  restrictions: { reject_blocklisted_sender: rejectBlocklistedSender },
};
