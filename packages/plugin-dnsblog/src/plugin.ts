/** The dnsblog plugin's declaration (package.json "postern.plugin"): finding the plugins loads this, not the implementation. */
import { definePlugin, SERVICE } from '@postern/core';
import { PARAMETERS } from './dnsblog-params.js';

export const plugin = definePlugin({
  name: '@postern/plugin-dnsblog',
  version: '0.1.0',
  core: '^0.1.0',
  commands: {
    dnsblog: {
      description: "dnsblog(8): DNS allow/denylist lookups for postscreen's DNSBL/DNSWL scoring",
      load: () => import('./dnsblog.js'),
    },
  },
  parameters: PARAMETERS,
  provides: [SERVICE.DNSBLOG],
  uses: [],
});

export default plugin;
