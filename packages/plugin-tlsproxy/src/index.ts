export { plugin, plugin as default } from './plugin.js';
export { PARAMETERS } from './tlsproxy-params.js';
export { TlsProxy } from './tlsproxy.js';
