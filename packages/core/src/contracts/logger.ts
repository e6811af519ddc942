import { token } from './token.js';

/**
 * Postfix-shaped logging: `Mon DD HH:MM:SS host syslog_name/service[pid]: text`.
 * warn/error/fatal/panic prefix the text with "warning: ", "error: ", ...
 */
export interface Logger {
  info(text: string): void;
  warn(text: string): void;
  error(text: string): void;
  /** Logs "fatal: text"; the caller decides whether to exit. */
  fatal(text: string): void;
  panic(text: string): void;
  /** Logged only when verbose logging is on (-v, debug_peer_list). */
  debug(text: string): void;
  readonly verbose: boolean;
  /** A logger for another program name (e.g. "postern/smtpd" -> "postern/cleanup"). */
  /** A logger for another program name (and, for lines logged on a child process's behalf, its pid). */
  child(program: string, pid?: number): Logger;
}

export const LOGGER = token<Logger>('Logger');
