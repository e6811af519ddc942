export { plugin, plugin as default } from './plugin.js';
export { errorDeliverer, splitDsn } from './error.js';
