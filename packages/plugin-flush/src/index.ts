export { plugin, plugin as default } from './plugin.js';
export { createFlush, type FlushOptions } from './flush.js';
export { FlushLogs, FLUSH_DIR } from './flush-log.js';
export { FlushPolicy } from './flush-policy.js';
export { PARAMETERS } from './flush-params.js';
