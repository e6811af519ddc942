/**
 * @postern/plugin-trivial-rewrite: Postfix's trivial-rewrite(8) as a Postern
 * plugin. It provides the `trivial-rewrite` master.cf command, which serves
 * the `rewrite` contract.
 */
export { plugin, plugin as default } from './plugin.js';
export { TRIVIAL_REWRITE_PARAMETERS } from './trivial-rewrite-params.js';
export { TrivialRewrite, type TrivialRewriteOptions } from './trivial-rewrite-service.js';
export { Resolver, localRewriteRules, remoteRewriteRules } from './trivial-rewrite-resolve.js';
export { rewriteAddress, type RewriteRules } from './trivial-rewrite-rewrite.js';
export { transportKeys, parseTransport, applyTransport, transportLookup, type TransportEntry, type TransportOptions } from './trivial-rewrite-transport.js';
export { LocalDomains, ownAddresses } from './trivial-rewrite-domains.js';
