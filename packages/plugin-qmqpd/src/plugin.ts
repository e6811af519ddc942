/** The qmqpd plugin's declaration (package.json "postern.plugin"): finding the plugins loads this, not the implementation. */
import { definePlugin, SERVICE } from '@postern/core';
import { QMQPD_PARAMETERS } from './qmqpd-params.js';

export const plugin = definePlugin({
  name: '@postern/plugin-qmqpd',
  version: '0.1.0',
  core: '^0.1.0',
  commands: {
    qmqpd: {
      description: 'Postfix qmqpd(8): the QMQP server (Quick Mail Queuing Protocol -> cleanup)',
      load: () => import('./qmqpd.js'),
    },
  },
  parameters: QMQPD_PARAMETERS,
  uses: [SERVICE.CLEANUP],
});

export default plugin;
