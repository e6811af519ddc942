export { plugin, plugin as default } from './plugin.js';
export { ScacheBooks, type ScacheCounters } from './scache-books.js';
export { PARAMETERS } from './scache-params.js';
