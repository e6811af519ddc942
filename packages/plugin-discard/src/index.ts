export { plugin, plugin as default } from './plugin.js';
export { deliverDiscard } from './discard.js';
