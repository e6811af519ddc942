/**
 * postfix(1)'s hand-off to a multi-instance manager (postfix.c,
 * postfix-wrapper(5)). When neither -c nor $MAIL_CONFIG names an instance
 * and the default instance's multi_instance_directories is not empty, a
 * `postern start` (stop, status, reload, check...) runs
 * $multi_instance_wrapper with the command and its arguments appended and
 * MAIL_CONFIG set to the default configuration directory. The wrapper that
 * `postern multi -e init` sets, `postern multi -p --`, then runs the
 * command on each instance. An empty wrapper is fatal, as in Postfix.
 *
 * start-fg does not support multi_instance_directories (postfix-script):
 * a foreground master is one instance.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createConfigView, ParameterRegistry, parseMainCf, type ConfigView } from '@postern/core';
import { configDirectory } from '../instance.js';
import type { CommandIo } from '../io.js';
import { POSTERN_BIN, runChild } from './multi-iterate.js';

const PROGRAM = 'postern';

/** The default instance's main.cf (core's parameters only), or undefined when there is none. */
export function defaultInstanceConfig(env: NodeJS.ProcessEnv): { readonly dir: string; readonly config: ConfigView } | undefined {
  const dir = configDirectory(undefined, { ...env, MAIL_CONFIG: '' }).dir;
  const file = join(dir, 'main.cf');
  if (!existsSync(file)) return undefined;
  const config = createConfigView({ mainCf: parseMainCf(readFileSync(file, 'utf8'), file), registry: ParameterRegistry.withCore(), configDirectory: dir });
  return { dir, config };
}

/** True when the default instance lists secondary instances. */
export function multiInstance(env: NodeJS.ProcessEnv): boolean {
  return (defaultInstanceConfig(env)?.config.list('multi_instance_directories').length ?? 0) > 0;
}

/**
 * Runs `command argv` through multi_instance_wrapper when postfix(1) would;
 * undefined when the command is for this one instance.
 */
export function throughWrapper(command: string, argv: readonly string[], explicitDir: string | undefined, io: CommandIo): Promise<number> | undefined {
  // -c sets MAIL_CONFIG in postfix(1): either forces a single instance
  if (explicitDir || io.env['MAIL_CONFIG']) return undefined;
  const primary = defaultInstanceConfig(io.env);
  if (!primary || primary.config.list('multi_instance_directories').length === 0) return undefined;
  const words = primary.config.get('multi_instance_wrapper').split(/\s+/).filter(Boolean);
  if (words.length === 0) {
    io.stderr.write(`${PROGRAM}: fatal: multi-instance support is requested, but multi_instance_wrapper is empty\n`);
    return Promise.resolve(1);
  }
  const env = { ...io.env, MAIL_CONFIG: primary.dir };
  const args = [...words.slice(1), command, ...argv];
  // "postern ..." is this very command, wherever PATH would find another
  if (words[0] === PROGRAM) return runChild(process.execPath, [POSTERN_BIN, ...args], env, io, PROGRAM);
  return runChild(words[0]!, args, env, io, PROGRAM);
}
