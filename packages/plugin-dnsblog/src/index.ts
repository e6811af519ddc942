export { plugin, plugin as default } from './plugin.js';
export { PARAMETERS } from './dnsblog-params.js';
export { createDnsblog } from './dnsblog.js';
