import { definePlugin, SERVICE } from '@postern/core';
import { BOUNCE_PARAMETERS } from './bounce-params.js';

export const plugin = definePlugin({
  name: '@postern/plugin-bounce',
  version: '0.1.0',
  core: '^0.1.0',
  commands: {
    bounce: {
      description: 'bounce(8): per-message delivery logs and RFC 3464 delivery status notifications (bounce, defer, trace)',
      load: () => import('./bounce.js'),
    },
  },
  parameters: BOUNCE_PARAMETERS,
  provides: [SERVICE.BOUNCE],
  uses: [SERVICE.CLEANUP],
});

export { BOUNCE_PARAMETERS } from './bounce-params.js';
export { BounceServer, type BounceServerOptions } from './bounce.js';
export { BounceNotifier, type NotifyDeps } from './bounce-notify.js';
export { buildReport, lineWrap, mailDate, type ReportInput } from './bounce-dsn.js';
export { wantsNotice, selectRecipients, type NotifyFilter } from './bounce-recipients.js';
export {
  DEFAULT_TEMPLATES,
  parseTemplate,
  parseTemplateFile,
  loadTemplates,
  expandTemplate,
  type BounceTemplate,
  type BounceTemplates,
  type TemplateClass,
} from './bounce-template.js';
