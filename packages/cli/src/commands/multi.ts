/**
 * NAME
 *   postern multi - Postern multi-instance manager (postmulti(1))
 *
 * SYNOPSIS
 *   postern multi -e init [-c config_dir]
 *   postern multi -l [-ajRv] [-g group] [-i name] [-c config_dir]
 *   postern multi -p [-av] [-g group] [-i name] [-c config_dir] command...
 *   postern multi -x [-aRv] [-g group] [-i name] [-c config_dir] command...
 *   postern multi -e create [-av] [-g group] [-i name] [-G group] [-I name] [param=value ...]
 *   postern multi -e import [-av] [-g group] [-i name] [-G group] [-I name] [config_directory=/path]
 *   postern multi -e destroy|deport|enable|disable [-v] -i name
 *   postern multi -e assign [-v] -i name [-I name] [-G group]
 *
 * DESCRIPTION
 *   One primary instance (the configuration directory of -c, $MAIL_CONFIG
 *   or the default instance) and the secondary instances its
 *   multi_instance_directories lists, as postmulti(1) manages them.
 *
 *   Iterator mode (multi-iterate.ts), on all instances (-a, the default),
 *   the instances of a group (-g), or one (-i: its name, the name without
 *   "postfix-", its configuration directory, "-" for the primary):
 *
 *   -l      list name, group, enabled (y/n) and configuration directory, in
 *           columns of 15, 15 and 9 characters; -j one JSON object a line.
 *   -p cmd  `postern cmd` with MAIL_CONFIG set to each instance: start (on
 *           a disabled instance: check), stop and abort (reverse order,
 *           disabled instances skipped), reload and flush (disabled instances
 *           skipped), others (status) on every instance; see
 *           postmulti_start_commands, postmulti_stop_commands and
 *           postmulti_control_commands.
 *   -x cmd  any command, with MAIL_CONFIG, config_directory,
 *           queue_directory, data_directory, multi_instance_name,
 *           multi_instance_group and multi_instance_enable of the instance
 *           in its environment.
 *   -R      reverse order (-l, -x).
 *
 *   Life-cycle management (-e, multi-manage.ts): init, create, import,
 *   destroy, deport, enable, disable, assign; -I and -G give the new name
 *   (which starts with "postfix-"; "-" for none) and group; with create and
 *   import, -a, -g and -i place the new instance before the selected one.
 *
 * WHERE POSTERN DIFFERS
 *   The primary instance may be any configuration directory (-c,
 *   $MAIL_CONFIG), where postmulti takes only the default one. The work of
 *   postmulti-script is done in TypeScript: a new instance gets the
 *   primary's main.cf and master.cf (not main.cf.proto and master.cf.proto
 *   from meta_directory), its inet services commented out in master.cf
 *   (Postern has no master_service_disable); destroy also refuses an
 *   instance whose queue holds messages; command_directory,
 *   daemon_directory, meta_directory and shlib_directory are not checked.
 *   -v is accepted and does nothing. -l -i with no match is "No
 *   instance named". (`postern start` and the other postfix(1) commands
 *   hand off to multi_instance_wrapper as postfix(1) does: multi-wrapper.ts.)
 *
 * CONFIGURATION PARAMETERS
 *   multi_instance_directories (empty), multi_instance_name (empty),
 *   multi_instance_group (empty), multi_instance_enable (no),
 *   multi_instance_wrapper (empty), postmulti_start_commands (start),
 *   postmulti_stop_commands (stop abort drain quick-stop),
 *   postmulti_control_commands (reload flush), alternate_config_directories.
 *
 * DIAGNOSTICS
 *   "postmulti: fatal: ..." (option errors, "No matching instances",
 *   conflicting instance names or directories) and
 *   "postern/postmulti-script: fatal: ..." (an instance that is not
 *   stopped, a primary without -e init) on stderr, exit 1. With -p and -x the
 *   exit status is 1 when a command failed on any instance.
 */
import { getopt, hasOpt, optValue, type Parsed } from '../getopt.js';
import { configDirectory } from '../instance.js';
import type { CommandIo } from '../io.js';
import { loadInstances, MultiFatal, type Selection } from './multi-instances.js';
import { iterateCommand, iteratePostfix, listInstances } from './multi-iterate.js';
import { EDIT_ACTIONS, initPrimary, manage, type EditAction, type NameAssignment } from './multi-manage.js';

const USAGE =
  'Usage:postmulti -l [-v] [-a] [-g group] [-i instance] | postmulti -p [-v] [-a] [-g group] [-i instance] command... | ' +
  'postmulti -x [-v] [-a] [-i name] [-g group] command... | postmulti -e action [-v] [-a] [-i name] [-g group] [-I name] [-G group] [param=value ...]';

/** Iterator modes and -e actions: exactly one. */
type Mode = 'l' | 'p' | 'x' | EditAction;

interface Options {
  readonly mode: Mode;
  readonly selection: Selection;
  readonly assignment: NameAssignment;
  readonly reverse: boolean;
  readonly json: boolean;
  readonly args: string[];
  readonly configDir: string | undefined;
}

/** main()'s option loop and its checks, in postmulti's order and words. */
function parseOptions(p: Parsed): Options {
  let mode: Mode | undefined;
  let modes = 0;
  let selects = 0;
  let selection: Selection = { type: 'none' };
  let name: string | undefined;
  let group: string | undefined;
  let reverse = false;
  const setMode = (m: Mode) => {
    if (mode !== m) modes++;
    mode = m;
  };
  for (const [c, v] of p.opts) {
    const value = typeof v === 'string' ? v : '';
    switch (c) {
      case 'a':
        if (selection.type !== 'all') selects++;
        selection = { type: 'all' };
        break;
      case 'e':
        if (!(EDIT_ACTIONS as readonly string[]).includes(value)) {
          throw new MultiFatal(`Invalid '-e' edit action '${value}'. Specify 'create', 'destroy', 'import', 'deport', 'enable', 'disable', 'assign' or 'init'`);
        }
        setMode(value as EditAction);
        break;
      case 'g':
      case 'i':
        selects++;
        selection = { type: c === 'g' ? 'group' : 'name', name: value };
        break;
      case 'G':
        if (group !== undefined) throw new MultiFatal("Specify at most one '-G' option");
        group = value === '-' ? '' : value;
        break;
      case 'I':
        if (name !== undefined) throw new MultiFatal("Specify at most one '-I' option");
        name = value === '-' ? '' : value;
        break;
      case 'l':
      case 'p':
      case 'x':
        setMode(c);
        break;
      case 'R':
        reverse = !reverse;
        break;
    }
  }
  if (selects > 1) throw new MultiFatal("Specity no more than one of '-a', '-g', '-i'");
  if (modes !== 1 || mode === undefined) throw new MultiFatal("Specify exactly one of '-e', '-l', '-p', '-x'");
  const edit = mode !== 'l' && mode !== 'p' && mode !== 'x';
  if (mode === 'l' && p.args.length > 0) throw new MultiFatal("Command not allowed with '-l'");
  if ((mode === 'p' || mode === 'x') && p.args.length === 0) throw new MultiFatal("Command required with '-p' or '-x' option");
  if ((mode === 'p' || edit) && reverse) throw new MultiFatal("The '-p' and '-e' options preclude the use of '-R'");
  if (!['create', 'import', 'assign'].includes(mode) && (name !== undefined || group !== undefined)) {
    throw new MultiFatal(edit ? `Cannot assign instance name or group with '-e ${mode}'` : "Cannot assign instance name or group without '-e assign'");
  }
  if (mode === 'assign' && name === undefined && group === undefined) throw new MultiFatal("Specify new instance name or group with '-e assign'");
  if (edit && mode !== 'create' && mode !== 'import' && p.args.length > 0) throw new MultiFatal(`Parameter overrides not valid with '-e ${mode}'`);
  if (hasOpt(p, 'j') && mode !== 'l') throw new MultiFatal("JSON output available only with '-l'");
  return { mode, selection, assignment: { name, group }, reverse, json: hasOpt(p, 'j'), args: p.args, configDir: optValue(p, 'c') };
}

/** `postern multi` (postmulti(1)): returns the exit status. */
export async function multiCommand(argv: string[], io: CommandIo): Promise<number> {
  try {
    let p: Parsed;
    try {
      p = getopt(argv, 'ac:e:g:i:jG:I:lpRvx');
    } catch (err) {
      throw new MultiFatal(`${(err as Error).message}\n${USAGE}`);
    }
    const o = parseOptions(p);
    const dir = configDirectory(o.configDir, io.env).dir;
    if (o.mode === 'init') {
      await initPrimary(dir, io);
      return 0;
    }
    const table = await loadInstances(dir);
    // In iterator mode no selection means all instances.
    const selection: Selection = o.selection.type === 'none' && ['l', 'p', 'x'].includes(o.mode) ? { type: 'all' } : o.selection;
    switch (o.mode) {
      case 'l':
        return listInstances(table, selection, { reverse: o.reverse, json: o.json }, io);
      case 'p':
        return await iteratePostfix(table, selection, o.args, io);
      case 'x':
        return await iterateCommand(table, selection, o.reverse, o.args, io);
      default:
        return await manage(o.mode, table, o.args, selection, o.assignment, io);
    }
  } catch (err) {
    if (!(err instanceof MultiFatal)) throw err;
    const [first, ...rest] = err.message.split('\n');
    io.stderr.write(rest.length > 0 ? `${err.program}: ${first}\n${err.program}: fatal: ${rest.join('\n')}\n` : `${err.program}: fatal: ${first}\n`);
    return 1;
  }
}
