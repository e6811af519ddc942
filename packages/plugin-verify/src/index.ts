import { definePlugin, SERVICE } from '@postern/core';
import { PARAMETERS } from './verify-params.js';

export const plugin = definePlugin({
  name: '@postern/plugin-verify',
  version: '0.1.0',
  core: '^0.1.0',
  commands: {
    verify: {
      description: 'verify(8): address verification cache server (reject_unverified_recipient/sender)',
      load: () => import('./verify.js'),
    },
  },
  parameters: PARAMETERS,
  provides: [SERVICE.VERIFY],
  uses: [SERVICE.CLEANUP],
});

export { AddressVerifier, cacheKey, cleanupProber, IN_PROGRESS, PROBE_TTL, verifierFromConfig, verifySender } from './verify.js';
export type { VerifyOptions, VerifyTimes } from './verify.js';
export { formatEntry, MemoryVerifyStore, parseEntry, RCPT_STAT, TableVerifyStore, type VerifyEntry, type VerifyStore } from './verify-cache.js';
export { PARAMETERS } from './verify-params.js';
