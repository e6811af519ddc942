export { plugin, plugin as default } from './plugin.js';
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
