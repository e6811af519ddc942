/**
 * postmulti(1)'s iterator mode: -l lists the selected instances, -p runs a
 * postern command (postfix(1)'s) on each, -x runs any command on each, in
 * instance order (the primary first; -R, and -p's stop commands, reverse it).
 *
 * -p runs `postern COMMAND ARGS...` with MAIL_CONFIG set to the instance's
 * configuration directory (postfix-wrapper(5)). With a command in
 * postmulti_start_commands a disabled instance runs `postern check` instead;
 * postmulti_stop_commands run in reverse order and skip disabled instances;
 * postmulti_control_commands skip disabled instances; other commands (status)
 * run on every instance.
 *
 * -x runs the command (found on PATH, with $command_directory in front) with
 * MAIL_CONFIG, command_directory, daemon_directory, config_directory,
 * queue_directory, data_directory, multi_instance_name,
 * multi_instance_group and multi_instance_enable of the instance in its
 * environment.
 *
 * The exit status is 1 when any command failed; "No matching instances"
 * when the selection matches none.
 */
import { spawn, type StdioOptions } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { CommandIo } from '../io.js';
import { matches, MultiFatal, PROGRAM, type Instance, type InstanceTable, type Selection } from './multi-instances.js';

export const POSTERN_BIN = fileURLToPath(new URL('../bin/postern.js', import.meta.url));

/** The root PATH of sys_defs.h, when PATH is unset. */
const ROOT_PATH = '/bin:/usr/bin:/sbin:/usr/sbin';

export interface IterateOptions {
  readonly reverse: boolean;
  readonly json: boolean;
}

const json = (s: string) => JSON.stringify(s);

/** -l: "%-15s %-15s %-9s %s", or postmulti -j's JSON object, one instance a line. */
export function listInstances(table: InstanceTable, selection: Selection, options: IterateOptions, io: CommandIo): number {
  const order = options.reverse ? [...table.instances].reverse() : table.instances;
  const chosen = order.filter((i) => matches(i, selection));
  // postmulti lists nothing here; Postern says why.
  if (selection.type === 'name' && chosen.length === 0) throw new MultiFatal(`No instance named ${selection.name}`);
  for (const ip of chosen) {
    const [name, group, enabled] = [ip.name ?? '-', ip.group ?? '-', ip.enabled ? 'y' : 'n'];
    io.stdout.write(
      options.json
        ? `{"name": ${json(name)},"group": ${json(group)},"enabled": ${json(enabled)},"config_directory": ${json(ip.configDir)}}\n`
        : `${name.padEnd(15)} ${group.padEnd(15)} ${enabled.padEnd(9)} ${ip.configDir}\n`,
    );
  }
  return 0;
}

/** Runs one command to its end; its output goes to the command's streams. Returns its exit status (1 when it could not run or died of a signal). */
export function runChild(file: string, args: readonly string[], env: NodeJS.ProcessEnv, io: CommandIo, program = PROGRAM): Promise<number> {
  const inherit = io.stdout === process.stdout && io.stderr === process.stderr;
  const stdio: StdioOptions = inherit ? 'inherit' : ['ignore', 'pipe', 'pipe'];
  return new Promise((resolve) => {
    const child = spawn(file, args, { env, stdio });
    child.stdout?.on('data', (b: Buffer) => io.stdout.write(b));
    child.stderr?.on('data', (b: Buffer) => io.stderr.write(b));
    child.once('error', (err: NodeJS.ErrnoException) => {
      io.stderr.write(`${program}: fatal: execvp ${file}: ${err.code === 'ENOENT' ? 'No such file or directory' : err.message}\n`);
      resolve(1);
    });
    // With pipes, wait for the output too; with inherited streams, only for the process.
    child.once(inherit ? 'exit' : 'close', (code: number | null) => resolve(code ?? 1));
  });
}

/** iterate_command(): the command for each selected instance, skipping disabled ones when asked. */
async function iterate(
  table: InstanceTable,
  selection: Selection,
  flags: { reverse: boolean; skipDisabled: boolean },
  run: (ip: Instance) => Promise<number>,
): Promise<number> {
  const order = flags.reverse ? [...table.instances].reverse() : table.instances;
  let matched = false;
  let status = 0;
  for (const ip of order) {
    if (flags.skipDisabled && !ip.enabled) continue;
    if (!matches(ip, selection)) continue;
    matched = true;
    if ((await run(ip)) !== 0) status = 1;
  }
  if (!matched) throw new MultiFatal('No matching instances');
  return status;
}

/** -p: `postern COMMAND...` on each instance, as postfix-wrapper(5) has it. */
export function iteratePostfix(table: InstanceTable, selection: Selection, argv: readonly string[], io: CommandIo): Promise<number> {
  const [command, ...rest] = argv as [string, ...string[]];
  const inList = (param: string) => table.primary.list(param).includes(command);
  const start = inList('postmulti_start_commands');
  const stop = !start && inList('postmulti_stop_commands');
  const control = !start && !stop && inList('postmulti_control_commands');
  return iterate(table, selection, { reverse: stop, skipDisabled: stop || control }, (ip) => {
    // A start command on a disabled instance: postfix check instead.
    const word = start && !ip.enabled ? 'check' : command;
    return runChild(process.execPath, [POSTERN_BIN, word, ...rest], { ...io.env, MAIL_CONFIG: ip.configDir }, io);
  });
}

/** -x: any command, with the instance's settings in its environment. */
export function iterateCommand(table: InstanceTable, selection: Selection, reverse: boolean, argv: readonly string[], io: CommandIo): Promise<number> {
  const [file, ...args] = argv as [string, ...string[]];
  const commandDir = table.primary.get('command_directory');
  const path = io.env['PATH'];
  return iterate(table, selection, { reverse, skipDisabled: false }, (ip) =>
    runChild(
      file,
      args,
      {
        ...io.env,
        MAIL_CONFIG: ip.configDir,
        daemon_directory: table.primary.get('daemon_directory'),
        command_directory: commandDir,
        config_directory: ip.configDir,
        queue_directory: ip.queueDir,
        data_directory: ip.dataDir,
        multi_instance_name: ip.name ?? '',
        multi_instance_group: ip.group ?? '',
        multi_instance_enable: ip.enabled ? 'yes' : 'no',
        PATH: `${commandDir}:${path ? path : ROOT_PATH}`,
      },
      io,
    ),
  );
}
