export { plugin, plugin as default } from './plugin.js';
export { createQmgr, QMGR_PROCESS_LIMITS, type QmgrInstance, type QmgrOptions, type QmgrStats } from './qmgr.js';
export { PARAMETERS, readQmgrParams, readTransportParams, type QmgrParams, type TransportParams } from './qmgr-params.js';
export { backoffDelay } from './qmgr-defer.js';
