/** The postscreen plugin's declaration (package.json "postern.plugin"): finding the plugins loads this, not the implementation. */
import { definePlugin, SERVICE } from '@postern/core';
import { PARAMETERS } from './postscreen-params.js';

export const plugin = definePlugin({
  name: '@postern/plugin-postscreen',
  version: '0.1.0',
  core: '^0.1.0',
  commands: {
    postscreen: {
      description: 'postscreen(8): screens SMTP clients (pregreet, DNSBL/DNSWL, deep protocol tests) before smtpd',
      load: () => import('./postscreen.js'),
      longRunning: true,
    },
  },
  parameters: PARAMETERS,
  provides: [],
  uses: [SERVICE.DNSBLOG],
});

export default plugin;
