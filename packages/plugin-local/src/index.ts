/** @postern/plugin-local: the plugin manifest (./plugin.js) and the package's library API. */
export * from './plugin.js';
export { createLocalDeliver, aggregate } from './local.js';
export type { LocalAgentDeps } from './local.js';
export { localExpand, applyFilter } from './local-expand.js';
export { getpwnam, parsePasswd, plausibleUser, PASSWD_TABLE } from './local-passwd.js';
