export * from './expand.js';
export * from './maincf.js';
export * from './params.js';
export * from './view.js';
export * from './mastercf.js';
export * from './postconf-edit.js';
export { POSTFIX_PARAMETER_NAMES } from './postfix-names.js';
