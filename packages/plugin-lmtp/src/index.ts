/** @postern/plugin-lmtp: the plugin manifest (./plugin.js) and the package's library API. */
export * from './plugin.js';
export { main, lmtpAgent } from './lmtp.js';
