export { plugin, plugin as default } from './plugin.js';
export { AddressVerifier, cacheKey, cleanupProber, IN_PROGRESS, PROBE_TTL, verifierFromConfig, verifySender } from './verify.js';
export type { VerifyOptions, VerifyTimes } from './verify.js';
export { formatEntry, MemoryVerifyStore, parseEntry, RCPT_STAT, TableVerifyStore, type VerifyEntry, type VerifyStore } from './verify-cache.js';
export { PARAMETERS } from './verify-params.js';
