export { plugin, plugin as default, VIRTUAL_PARAMETERS } from './plugin.js';
export { createVirtualDeliver, safeMailboxPath } from './virtual.js';
export type { VirtualDeps } from './virtual.js';
