/**
 * postkick(1) as `postern kick`: send a trigger request to a service.
 *
 *   postern kick [-c config_dir] [-v] class service request
 *
 * Writes `request` (e.g. "W" wakeup, or qmgr's "I", "D", "A", "F") to the
 * service's socket queue_directory/class/service, as Postfix's mail_trigger()
 * does, for use in shell scripts: `postern kick public qmgr I`. When the
 * service cannot be reached: "postkick: warning: Cannot contact class public
 * service qmgr - perhaps the mail system is down", exit status 1.
 */
import { join } from 'node:path';
import { sendTrigger } from '@postern/core';
import { hasOpt, optValue } from '../getopt.js';
import type { CommandIo } from '../io.js';
import { EX, loadCommandConfig, parseArgs, runCommand, UsageError } from './queue.js';

const PROGRAM = 'postkick';
const USAGE = 'postkick [-c config_dir] [-v] class service request';

/** `postern kick ...` (postkick(1)). */
export async function kickCommand(argv: string[], io: CommandIo): Promise<number> {
  return runCommand(io, PROGRAM, USAGE, async () => {
    const p = parseArgs(argv, 'c:v', io, PROGRAM);
    if (p.args.length !== 3) throw new UsageError();
    const [cls, service, request] = p.args as [string, string, string];
    const config = await loadCommandConfig(optValue(p, 'c'), io);
    const safe = (s: string) => s !== '' && s !== '.' && s !== '..' && !s.includes('/');
    const path = join(config.get('queue_directory'), cls, service);
    try {
      if (!safe(cls) || !safe(service)) throw new Error('invalid class or service name');
      await sendTrigger(service, path, request);
    } catch (err) {
      if (hasOpt(p, 'v')) io.stderr.write(`${PROGRAM}: ${path}: ${(err as Error).message}\n`);
      io.stderr.write(`${PROGRAM}: warning: Cannot contact class ${cls} service ${service} - perhaps the mail system is down\n`);
      return EX.FATAL;
    }
    if (hasOpt(p, 'v')) io.stderr.write(`${PROGRAM}: sent ${JSON.stringify(request)} to ${cls}/${service}\n`);
    return EX.OK;
  });
}
