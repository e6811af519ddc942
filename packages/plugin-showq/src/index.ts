export { plugin, plugin as default } from './plugin.js';
export { createShowq } from './showq.js';
export { PARAMETERS } from './showq-params.js';
