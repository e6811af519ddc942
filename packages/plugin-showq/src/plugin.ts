/** The showq plugin's declaration (package.json "postern.plugin"): finding the plugins loads this, not the implementation. */
import { definePlugin, SERVICE } from '@postern/core';
import { PARAMETERS } from './showq-params.js';

export const plugin = definePlugin({
  name: '@postern/plugin-showq',
  version: '0.1.0',
  core: '^0.1.0',
  commands: {
    showq: {
      description: 'showq(8): list the mail queue for postqueue -p/-j, mailq and sendmail -bp',
      load: () => import('./showq.js'),
    },
  },
  parameters: PARAMETERS,
  provides: [SERVICE.SHOWQ],
  uses: [],
});

export default plugin;
