import type { Logger } from '@postern/core';
/** The streams a command writes to: the process's own, or a test's. */
export interface CommandIo {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
  readonly stdin: NodeJS.ReadableStream;
  readonly env: NodeJS.ProcessEnv;
}

export const processIo: CommandIo = { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env };

/** Postfix-style command messages: "postern/postfix-script: text", "postconf: fatal: text". */
export function say(io: CommandIo, program: string, text: string): void {
  io.stderr.write(`${program}: ${text}\n`);
}

/** A Logger for a command-line tool: "program: warning: text" on stderr, as Postfix's tools print. */
export function commandLogger(program: string, io: CommandIo, verbose = false): Logger {
  const put = (level: string) => (text: string) => io.stderr.write(`${program}: ${level}${text}\n`);
  return {
    verbose,
    info: put(''),
    warn: put('warning: '),
    error: put('error: '),
    fatal: put('fatal: '),
    panic: put('panic: '),
    debug: (text) => verbose && io.stderr.write(`${program}: ${text}\n`),
    child: (p) => commandLogger(p, io, verbose),
  };
}
