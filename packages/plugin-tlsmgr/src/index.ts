export { plugin, plugin as default } from './plugin.js';
export { createTlsManager, type TlsManager } from './tlsmgr.js';
export { openTlsStore, cacheDatabasePath, type TlsStore } from './tlsmgr-store.js';
export { PARAMETERS } from './tlsmgr-params.js';
