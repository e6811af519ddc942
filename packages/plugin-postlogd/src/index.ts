export { plugin, plugin as default } from './plugin.js';
export { PARAMETERS } from './postlogd-params.js';
export { postlogLine, RecordSplitter } from './postlogd-record.js';
