export { plugin, plugin as default } from './plugin.js';
export { createPipeDeliver, resolveAccount } from './pipe.js';
export type { PipeDeps } from './pipe.js';
export { parsePipeArgs, parseFlags, unescapeEol, PipeConfigError } from './pipe-args.js';
export type { PipeAttrs, PipeFlags } from './pipe-args.js';
export { expandArgv, macroNames } from './pipe-expand.js';
