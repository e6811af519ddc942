/**
 * postlog(1) as `postern log`: Postfix-compatible logging from the shell.
 *
 *   postern log [-iv] [-c config_dir] [-p priority] [-t tag] [text...]
 *
 * Writes one line "Mon DD HH:MM:SS host tag[pid]: text" to maillog_file (the
 * same writer the daemons use), the text being the arguments joined by
 * spaces, or each line of standard input when there are none. The tag
 * defaults to $syslog_name/postlog; priority is info (default), warn or
 * warning, error or err, fatal or crit, panic, and adds Postfix's "warning: ",
 * "error: ", "fatal: ", "panic: " prefix. As Postfix's postlog, the text is
 * also copied to standard error when that is a terminal. -i (include the
 * process ID) is accepted for compatibility: the pid is always logged.
 */
import { createInterface } from 'node:readline';
import { PostfixLogger, type Logger } from '@postern/core';
import { hasOpt, optValue } from '../getopt.js';
import type { CommandIo } from '../io.js';
import { CommandFatal, EX, loadCommandConfig, parseArgs, runCommand } from './queue.js';

const PROGRAM = 'postlog';
const USAGE = 'postlog [-c config_dir] [-i] [-p priority] [-t tag] [-v] [text]';

type Level = 'info' | 'warn' | 'error' | 'fatal' | 'panic';
const LEVELS: Readonly<Record<string, Level>> = {
  info: 'info',
  warn: 'warn',
  warning: 'warn',
  error: 'error',
  err: 'error',
  fatal: 'fatal',
  crit: 'fatal',
  panic: 'panic',
};
const PREFIX: Readonly<Record<Level, string>> = { info: '', warn: 'warning: ', error: 'error: ', fatal: 'fatal: ', panic: 'panic: ' };

/** `postern log ...` (postlog(1)). */
export async function logCommand(argv: string[], io: CommandIo): Promise<number> {
  return runCommand(
    io,
    PROGRAM,
    USAGE,
    async () => {
      const p = parseArgs(argv, 'c:ip:t:v', io, PROGRAM);
      const priority = optValue(p, 'p') ?? 'info';
      const level = LEVELS[priority.toLowerCase()];
      if (!level) throw new CommandFatal(`unknown priority value: ${priority}`, EX.FATAL);
      const config = await loadCommandConfig(optValue(p, 'c'), io);
      const tag = optValue(p, 't') ?? `${config.get('syslog_name') || 'postfix'}/${PROGRAM}`;
      const log: Logger = new PostfixLogger({
        program: tag,
        file: config.get('maillog_file'),
        host: (config.get('myhostname') || '').split('.')[0] || undefined,
        verbose: hasOpt(p, 'v'),
      });
      const tty = (io.stderr as NodeJS.WriteStream).isTTY === true;
      const emit = (text: string) => {
        log[level](text);
        if (tty) io.stderr.write(`${tag}: ${PREFIX[level]}${text}\n`);
      };
      if (p.args.length > 0) emit(p.args.join(' '));
      else {
        const rl = createInterface({ input: io.stdin, crlfDelay: Infinity });
        for await (const line of rl) emit(line);
      }
      return EX.OK;
    },
    EX.FATAL,
  );
}
