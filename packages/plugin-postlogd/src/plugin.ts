/** The postlogd plugin's declaration (package.json "postern.plugin"): finding the plugins loads this, not the implementation. */
import { definePlugin, SERVICE } from '@postern/core';
import { PARAMETERS } from './postlogd-params.js';

export const plugin = definePlugin({
  name: '@postern/plugin-postlogd',
  version: '0.1.0',
  core: '^0.1.0',
  commands: {
    postlogd: {
      description: 'postlogd(8): append log records handed over on the postlog socket to maillog_file',
      load: () => import('./postlogd.js'),
      longRunning: true,
    },
  },
  parameters: PARAMETERS,
  provides: [SERVICE.POSTLOG],
  uses: [],
});

export default plugin;
