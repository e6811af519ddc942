/** The proxymap plugin's declaration (package.json "postern.plugin"): finding the plugins loads this, not the implementation. */
import { definePlugin, SERVICE } from '@postern/core';
import { PARAMETERS } from './proxymap-params.js';

export const plugin = definePlugin({
  name: '@postern/plugin-proxymap',
  version: '0.1.0',
  core: '^0.1.0',
  commands: {
    proxymap: {
      description: 'proxymap(8): lookup table proxy server (the proxymap and proxywrite services)',
      load: () => import('./proxymap.js'),
    },
  },
  parameters: PARAMETERS,
  provides: [SERVICE.PROXYMAP],
  uses: [],
});

export default plugin;
