export { plugin, plugin as default } from './plugin.js';
export { Proxymap, approvedTables, type ProxymapOptions } from './proxymap.js';
export { ProxyTable, proxyTableFactory, type ProxyTableOptions } from './proxymap-table.js';
export { PROXY_METHOD, stripProxyPrefix, type ProxyStatus } from './proxymap-protocol.js';
export { PARAMETERS } from './proxymap-params.js';
