export * from './delivery-log.js';
export * from './delivery-status.js';
export * from './delivery-status-filter.js';
export * from './delivery-agent.js';
