/**
 * @postern/plugin-cleanup: Postfix's cleanup(8) as a Postern plugin. It
 * provides the `cleanup` master.cf command, which serves the `cleanup`
 * contract and uses `rewrite` (trivial-rewrite) and the queue store.
 */
export { plugin, plugin as default } from './plugin.js';
export { CLEANUP_PARAMETERS } from './cleanup-params.js';
export { Cleanup, type CleanupOptions } from './cleanup-service.js';
export { AddressMapper, MappingError, type AddressRole } from './cleanup-addr.js';
export { cleanupAct, dsnPrepend, type ActContext, type ActOutcome, type ActState } from './cleanup-act.js';
export { CleanupMessage, mailDate, fromHeader, type MessageChecks, type MessageOptions } from './cleanup-message.js';
export { headerInfo, headerName, headerValue, findAddresses, rewriteAddresses, type HeaderInfo, type AddressSpan } from './cleanup-header.js';
