/**
 * postlock(1) as `postern lock`: lock a mail folder and run a command.
 *
 *   postern lock [-c config_dir] [-l lock_style] [-v] file command...
 *
 * Locks `file` the way local(8) locks a mailbox (core's lockMailbox, with the
 * methods of mailbox_delivery_lock, or -l: a comma list of fcntl, flock,
 * dotlock), creating the file (mode 0600) when it does not exist, as
 * Postfix's mbox_open() does. A busy lock is retried deliver_lock_attempts
 * times, deliver_lock_delay apart; a dot-lock older than stale_lock_time is
 * removed. The command runs directly (no shell) while the lock is held, with
 * the same standard input and output; the lock is released when it exits.
 *
 * Exit status: the command's; 75 (EX_TEMPFAIL) when the file cannot be
 * locked or opened, or the command cannot be run, as postlock(1) documents.
 */
import { spawn } from 'node:child_process';
import { closeSync, constants as fsc, openSync } from 'node:fs';
import { errnoText, LockError, lockMailbox, parseLockMethods, type HeldLock, type LockMethod } from '@postern/core';
import { hasOpt, optValue } from '../getopt.js';
import type { CommandIo } from '../io.js';
import { CommandFatal, EX, loadCommandConfig, parseArgs, runCommand, UsageError } from './queue.js';

const PROGRAM = 'postlock';
const USAGE = 'postlock [-c config_dir] [-l lock_style] [-v] folder command...';

/** Postfix's defaults, used when no installed package declares the parameter. */
const DEFAULTS = { mailbox_delivery_lock: 'fcntl, dotlock', deliver_lock_attempts: 20, deliver_lock_delay: 1, stale_lock_time: 500 };

/** `postern lock ...` (postlock(1)). */
export async function lockCommand(argv: string[], io: CommandIo): Promise<number> {
  return runCommand(
    io,
    PROGRAM,
    USAGE,
    async () => {
      const p = parseArgs(argv, 'c:l:v', io, PROGRAM);
      if (p.args.length < 2) throw new UsageError();
      const [file, command, ...args] = p.args as [string, string, ...string[]];
      const verbose = hasOpt(p, 'v');
      const config = await loadCommandConfig(optValue(p, 'c'), io);
      const param = (name: keyof typeof DEFAULTS): string => (config.has(name) ? config.get(name) : '') || String(DEFAULTS[name]);
      const seconds = (name: 'deliver_lock_delay' | 'stale_lock_time'): number =>
        config.has(name) && config.get(name) ? config.time(name) : DEFAULTS[name];
      let methods: LockMethod[];
      try {
        methods = parseLockMethods(optValue(p, 'l') ?? param('mailbox_delivery_lock'));
      } catch (err) {
        throw new CommandFatal((err as Error).message, EX.TEMPFAIL);
      }
      try {
        closeSync(openSync(file, fsc.O_WRONLY | fsc.O_APPEND | fsc.O_CREAT, 0o600));
      } catch (err) {
        throw new CommandFatal(`open file ${file}: ${errnoText(err as NodeJS.ErrnoException)}`, EX.TEMPFAIL);
      }
      let held: HeldLock;
      try {
        held = await lockMailbox(file, methods, {
          attempts: Number(param('deliver_lock_attempts')) || DEFAULTS.deliver_lock_attempts,
          delay: seconds('deliver_lock_delay'),
          staleTime: seconds('stale_lock_time'),
        });
      } catch (err) {
        const text = err instanceof LockError ? err.message : (err as Error).message;
        throw new CommandFatal(`open file ${file}: ${text}`, EX.TEMPFAIL);
      }
      if (verbose) io.stderr.write(`${PROGRAM}: ${file}: locked (${methods.join(', ')})\n`);
      try {
        return await new Promise<number>((resolve) => {
          const child = spawn(command, args, { stdio: ['inherit', 'pipe', 'pipe'] });
          child.stdout.pipe(io.stdout, { end: false });
          child.stderr.pipe(io.stderr, { end: false });
          child.once('error', (err: NodeJS.ErrnoException) => {
            io.stderr.write(`${PROGRAM}: fatal: command ${command}: ${errnoText(err)}\n`);
            resolve(EX.TEMPFAIL);
          });
          child.once('close', (code, signal) => {
            if (code !== null) resolve(code);
            else {
              io.stderr.write(`${PROGRAM}: warning: command ${command} killed by signal ${signal}\n`);
              resolve(EX.TEMPFAIL);
            }
          });
        });
      } finally {
        await held.release();
        if (verbose) io.stderr.write(`${PROGRAM}: ${file}: unlocked\n`);
      }
    },
    EX.TEMPFAIL,
  );
}
