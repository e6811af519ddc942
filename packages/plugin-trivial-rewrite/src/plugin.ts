/** The trivial-rewrite plugin's declaration (package.json "postern.plugin"): finding the plugins loads this, not the implementation. */
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

export default plugin;
