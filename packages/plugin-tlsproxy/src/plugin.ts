/** The tlsproxy plugin's declaration (package.json "postern.plugin"): finding the plugins loads this, not the implementation. */
import { definePlugin, SERVICE } from '@postern/core';
import { PARAMETERS } from './tlsproxy-params.js';

export const plugin = definePlugin({
  name: '@postern/plugin-tlsproxy',
  version: '0.1.0',
  core: '^0.1.0',
  commands: {
    tlsproxy: {
      description: "tlsproxy(8): TLS on behalf of postscreen's STARTTLS",
      load: () => import('./tlsproxy.js'),
    },
  },
  parameters: PARAMETERS,
  provides: [SERVICE.TLSPROXY],
  uses: [],
});

export default plugin;
