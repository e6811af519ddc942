export { plugin, plugin as default } from './plugin.js';
export { PARAMETERS } from './postscreen-params.js';
export { createPostscreenMain, readSettings, type PostscreenOptions } from './postscreen.js';
