/** The pipe plugin's declaration (package.json "postern.plugin"): finding the plugins loads this, not the implementation. */
import { definePlugin, SERVICE } from '@postern/core';

export const plugin = definePlugin({
  name: '@postern/plugin-pipe',
  version: '0.1.0',
  core: '^0.1.0',
  commands: {
    pipe: {
      description: 'pipe(8): deliver to an external command (argv= with ${recipient}, ${sender} ... macros)',
      load: () => import('./pipe.js'),
    },
  },
  parameters: [
    {
      name: 'pipe_delivery_status_filter',
      default: '$default_delivery_status_filter',
      type: 'table',
      description: 'Tables that replace the status code and text of a pipe(8) delivery before it is logged and reported; see default_delivery_status_filter.',
    },
  ],
  provides: [],
  uses: [SERVICE.BOUNCE],
  mayUse: [SERVICE.FLUSH, SERVICE.VERIFY],
});

export default plugin;
