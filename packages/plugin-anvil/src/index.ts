export { plugin, plugin as default } from './plugin.js';
export { AnvilTable, type AnvilTableOptions } from './anvil-remote.js';
export { PARAMETERS } from './anvil-params.js';
export { createAnvil } from './anvil.js';
