export { plugin, plugin as default } from './plugin.js';
export { QMQPD_PARAMETERS } from './qmqpd-params.js';
export { createQmqpd, type Qmqpd, type QmqpdOptions } from './qmqpd.js';
export { QMQPD_STAT, cleanupReply, type QmqpdStatus } from './qmqpd-session.js';
export { NetstringError, NetstringReader, netstring, type NetstringErrorKind } from './qmqpd-netstring.js';
export { clientList, peerName, type Peer } from './qmqpd-peer.js';
