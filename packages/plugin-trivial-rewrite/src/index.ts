/**
 * @postern/plugin-trivial-rewrite: Postfix's trivial-rewrite(8) as a Postern
 * plugin. It provides the `trivial-rewrite` master.cf command, which serves
 * the `rewrite` contract.
 */
import { definePlugin, SERVICE } from '@postern/core';
import { TRIVIAL_REWRITE_PARAMETERS } from './trivial-rewrite-params.js';

export const plugin = definePlugin({
  name: '@postern/plugin-trivial-rewrite',
  version: '0.1.0',
  core: '^0.1.0',
  commands: {
    'trivial-rewrite': {
      description: 'address rewriting and resolving (Postfix trivial-rewrite(8))',
      load: () => import('./trivial-rewrite.js'),
    },
  },
  parameters: TRIVIAL_REWRITE_PARAMETERS,
  provides: [SERVICE.REWRITE],
  uses: [],
});

export { TRIVIAL_REWRITE_PARAMETERS } from './trivial-rewrite-params.js';
export { TrivialRewrite, type TrivialRewriteOptions } from './trivial-rewrite-service.js';
export { Resolver, localRewriteRules, remoteRewriteRules } from './trivial-rewrite-resolve.js';
export { rewriteAddress, type RewriteRules } from './trivial-rewrite-rewrite.js';
export { transportKeys, parseTransport, applyTransport, transportLookup, type TransportEntry, type TransportOptions } from './trivial-rewrite-transport.js';
export { LocalDomains, ownAddresses } from './trivial-rewrite-domains.js';
export default plugin;
