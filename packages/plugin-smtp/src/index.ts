/** @postern/plugin-smtp: the plugin manifest (./plugin.js) and the package's library API. */
export * from './plugin.js';
export { main, smtpAgent } from './smtp.js';
