/**
 * @postern/plugin-cleanup: Postfix's cleanup(8) as a Postern plugin. It
 * provides the `cleanup` master.cf command, which serves the `cleanup`
 * contract and uses `rewrite` (trivial-rewrite) and the queue store.
 */
import { definePlugin, SERVICE } from '@postern/core';
import { CLEANUP_PARAMETERS } from './cleanup-params.js';

export const plugin = definePlugin({
  name: '@postern/plugin-cleanup',
  version: '0.1.0',
  core: '^0.1.0',
  commands: {
    cleanup: {
      description: 'canonicalize and enqueue messages (Postfix cleanup(8))',
      load: () => import('./cleanup.js'),
    },
  },
  parameters: CLEANUP_PARAMETERS,
  provides: [SERVICE.CLEANUP],
  uses: [SERVICE.REWRITE],
  mayUse: [SERVICE.QMGR],
});

export { CLEANUP_PARAMETERS } from './cleanup-params.js';
export { Cleanup, type CleanupOptions } from './cleanup-service.js';
export { AddressMapper, MappingError, type AddressRole } from './cleanup-addr.js';
export { cleanupAct, dsnPrepend, type ActContext, type ActOutcome, type ActState } from './cleanup-act.js';
export { CleanupMessage, mailDate, fromHeader, type MessageChecks, type MessageOptions } from './cleanup-message.js';
export { headerInfo, headerName, headerValue, findAddresses, rewriteAddresses, type HeaderInfo, type AddressSpan } from './cleanup-header.js';
export default plugin;
