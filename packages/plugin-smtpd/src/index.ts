/** @postern/plugin-smtpd: the plugin manifest (./plugin.js) and the package's library API. */
export * from './plugin.js';
export { default } from './plugin.js';
export { SMTPD_PARAMETERS } from './smtpd-params.js';
export { createSmtpd, createSmtpdMain, type Smtpd, type SmtpdOptions } from './smtpd.js';
export { createHookRegistry, loadSmtpdPlugins, pluginContext } from './smtpd-hooks.js';
export { SMTPD_RESTRICTIONS } from './smtpd-restriction-names.js';
export { DovecotSasl, TableSasl, createSaslServer, verifyPassword, securityOptions } from './smtpd-sasl.js';
export { networkMatcher, mynetworksList, defaultMynetworks } from './smtpd-peer.js';
