/**
 * postern(1): one command for Postfix's command set.
 *
 * SYNOPSIS
 *   postern [-c config_dir] [-D] [-v] command [options]     as postfix(1)
 *   postern command [options]                              each command takes -c itself too
 *   postern --version | help [command] | command --help
 *
 * DESCRIPTION
 *   The global options come before the command, as postfix(1) has them:
 *   -c names the configuration directory (it becomes $MAIL_CONFIG for the
 *   command, which every command reads), -v is passed on as the command's
 *   own -v, and -D (postfix(1)'s "start under debugger_command") is refused
 *   with a message: Node has no debugger_command hook, and `node --inspect`
 *   on the service is the way to debug one.
 */
import { readFileSync } from 'node:fs';
import { lifecycleCommand, LIFECYCLE } from './commands/lifecycle.js';
import { COMMAND_HELP, commandHelp, usageSummary } from './help.js';
import { processIo, type CommandIo } from './io.js';

type Command = (argv: string[], io: CommandIo) => Promise<number>;

/** This package's version (postern --version). */
export function cliVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

async function loadCommand(name: string): Promise<Command | undefined> {
  if (LIFECYCLE.includes(name)) return (argv, io) => lifecycleCommand(name, argv, io);
  const admin = await import('./commands/admin.js');
  return admin.ADMIN_COMMANDS[name];
}

/** Splits postfix(1)'s global options from the command and its arguments. */
function globalOptions(argv: readonly string[]): { configDir?: string; debug: boolean; verbose: number; rest: string[] } | string {
  let configDir: string | undefined;
  let debug = false;
  let verbose = 0;
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('-') || a === '-' || a.startsWith('--')) break;
    for (let j = 1; j < a.length; j++) {
      const c = a[j]!;
      if (c === 'v') verbose++;
      else if (c === 'D') debug = true;
      else if (c === 'c') {
        const value = a.slice(j + 1) || argv[++i];
        if (value === undefined) return `option requires an argument -- 'c'`;
        configDir = value;
        break;
      } else return `invalid option -- '${c}'`;
    }
  }
  return { configDir, debug, verbose, rest: argv.slice(i) };
}

export async function run(argv: string[], io: CommandIo = processIo): Promise<number> {
  const g = globalOptions(argv);
  if (typeof g === 'string') {
    io.stderr.write(`postern: ${g}\n${usageSummary()}`);
    return 1;
  }
  const [name, ...rest] = g.rest;
  if (name === '--version' || name === '-V') {
    io.stdout.write(`postern ${cliVersion()}\n`);
    return 0;
  }
  if (!name || name === '--help' || name === 'help') {
    const topic = name === 'help' ? rest[0] : undefined;
    if (topic === undefined) {
      (name ? io.stdout : io.stderr).write(usageSummary());
      return name ? 0 : 1;
    }
    const text = commandHelp(topic);
    if (!text) {
      io.stderr.write(`postern: no such command: ${topic}\n${usageSummary()}`);
      return 1;
    }
    io.stdout.write(text);
    return 0;
  }
  if (!COMMAND_HELP[name]) {
    io.stderr.write(`postern: unknown command: ${name}\n${usageSummary()}`);
    return 1;
  }
  if (rest.includes('--help')) {
    io.stdout.write(commandHelp(name)!);
    return 0;
  }
  if (g.debug) {
    io.stderr.write('postern: fatal: -D (start under debugger_command) is not supported: run the service under `node --inspect` instead\n');
    return 1;
  }
  const command = (await loadCommand(name))!;
  const env = g.configDir ? { ...io.env, MAIL_CONFIG: g.configDir } : io.env;
  const args = COMMAND_HELP[name]!.verbose ? [...Array<string>(g.verbose).fill('-v'), ...rest] : rest;
  return command(args, { ...io, env });
}
