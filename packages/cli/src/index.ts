/** @postern/cli: the postern and sendmail commands, for embedding (tests, wrappers). */
export { run } from './cli.js';
export { sendmailCommand } from './commands/sendmail.js';
export type { CommandIo } from './io.js';
