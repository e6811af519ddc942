export { plugin, plugin as default } from './plugin.js';
export { MetricsCollector } from './metrics.js';
export { observeLine, parseLogLine, rejectReason } from './metrics-log.js';
export { LogFollower } from './metrics-tail.js';
export { PARAMETERS } from './metrics-params.js';
