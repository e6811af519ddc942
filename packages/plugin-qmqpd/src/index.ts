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
export { QMQPD_PARAMETERS } from './qmqpd-params.js';
export { createQmqpd, type Qmqpd, type QmqpdOptions } from './qmqpd.js';
export { QMQPD_STAT, cleanupReply, type QmqpdStatus } from './qmqpd-session.js';
export { NetstringError, NetstringReader, netstring, type NetstringErrorKind } from './qmqpd-netstring.js';
export { clientList, peerName, type Peer } from './qmqpd-peer.js';
