/**
 * postmulti(1)'s life-cycle management mode (-e action), with the work of
 * Postfix's postmulti-script done here:
 *
 *   init     sets multi_instance_wrapper = postern multi -p -- and
 *            multi_instance_enable = yes in the primary's main.cf.
 *   create   a new instance: its configuration directory gets the primary's
 *            main.cf (without the primary's multi_instance_* settings,
 *            syslog_name and alternate_config_directories; with its own
 *            queue_directory and data_directory) and the primary's master.cf
 *            with the inet services commented out (Postfix sets
 *            master_service_disable = inet, which Postern has not); the
 *            queue and data directories are made; the instance joins the
 *            primary's multi_instance_directories, disabled. A directory that
 *            already has main.cf and master.cf is imported as it is.
 *   import   an existing instance joins multi_instance_directories.
 *   destroy  a disabled, stopped instance with an empty queue leaves
 *            multi_instance_directories and its files are removed (main.cf,
 *            master.cf, the queue's own files and directories; a directory
 *            that still holds other files stays, with a warning).
 *   deport   a disabled, stopped instance leaves multi_instance_directories
 *            (into alternate_config_directories), its files stay.
 *   enable, disable  multi_instance_enable = yes / no in its main.cf.
 *   assign   a new multi_instance_name (-I) or multi_instance_group (-G).
 *
 * Every action but init needs a primary that `-e init` (or the same two
 * settings by hand) prepared. main.cf edits replace the file atomically, as
 * `postern conf -e` does.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createConfigView, editMainCfDetailed, parseMasterCf, QUEUE_NAMES, runningMasterPid } from '@postern/core';
import type { CommandIo } from '../io.js';
import { writeAtomically } from './conf.js';
import { editMaster } from './conf-master.js';
import { commandQueueStore, loadCommandConfig } from './queue.js';
import { loadInstance, matches, MultiFatal, NAME_PREFIX, SCRIPT, type Instance, type InstanceTable, type Selection } from './multi-instances.js';

export const EDIT_ACTIONS = ['create', 'import', 'destroy', 'deport', 'enable', 'disable', 'assign', 'init'] as const;
export type EditAction = (typeof EDIT_ACTIONS)[number];

/** -I and -G: undefined when not given, "" for "-" (no name, no group). */
export interface NameAssignment {
  readonly name: string | undefined;
  readonly group: string | undefined;
}

/** What multi_instance_wrapper becomes: `postern start` and friends then run on every instance. */
export const POSTERN_WRAPPER = 'postern multi -p --';

/** The parameters of the primary that a new instance does not copy: they describe the primary's place among the instances. */
const PRIMARY_ONLY = ['multi_instance_directories', 'multi_instance_wrapper', 'multi_instance_enable', 'multi_instance_name', 'multi_instance_group', 'alternate_config_directories', 'syslog_name'];

/** What Postern writes under queue_directory (removed by destroy, as postmulti-script removes Postfix's queue subdirectories). */
const QUEUE_FILES = ['queue.lmdb', 'pid', 'public', 'private', 'maildrop', 'flush', 'saved', 'trace', 'bounce', 'defer', 'corrupt', ...QUEUE_NAMES];

async function setParameters(dir: string, set: Record<string, string>, io: CommandIo): Promise<void> {
  const file = join(dir, 'main.cf');
  const text = readFileSync(file, 'utf8');
  const result = editMainCfDetailed(text, { set }, file);
  for (const w of result.warnings) io.stderr.write(`${SCRIPT}: warning: ${w}\n`);
  if (result.text === text) return;
  try {
    await writeAtomically(file, result.text);
  } catch (err) {
    throw new MultiFatal((err as Error).message, SCRIPT);
  }
}

/** check_safe_name() */
const safeName = (s: string) => s !== '' && /^[A-Za-z0-9!@%\-_=+:./]+$/.test(s);

/** check_name_assignments() */
function checkNames(a: NameAssignment): void {
  if (a.name) {
    if (!safeName(a.name)) throw new MultiFatal(`Unsafe characters in new instance name: '${a.name}'`);
    if (a.name.includes('/')) throw new MultiFatal(`Illegal '/' character in new instance name: '${a.name}'`);
    if (!a.name.startsWith(NAME_PREFIX)) throw new MultiFatal(`New instance name must start with '${NAME_PREFIX}'`);
  }
  if (a.group && !safeName(a.group)) throw new MultiFatal(`Unsafe characters in '-G ${a.group}'`);
}

/** do_name_assignments(): which of name and group change (claiming a new name). */
function assignNames(table: InstanceTable, target: Instance, a: NameAssignment): { name?: string; group?: string } {
  const changes: { name?: string; group?: string } = {};
  if (a.name !== undefined && a.name !== (target.name ?? '')) {
    table.claims.register(target.configDir, 'multi_instance_name', a.name);
    target.name = a.name || undefined;
    changes.name = a.name;
  }
  if (a.group !== undefined && a.group !== (target.group ?? '')) {
    target.group = a.group || undefined;
    changes.group = a.group;
  }
  return changes;
}

/** make_private_path(): the primary's directory with its last component replaced by the new instance's name. */
function privatePath(param: string, primaryValue: string, a: NameAssignment): string {
  if (!a.name) throw new MultiFatal(`Missing ${param} parameter value`);
  if (!primaryValue.startsWith('/')) throw new MultiFatal(`Invalid default ${param} parameter value: '${primaryValue}': specify an absolute pathname`);
  const base = primaryValue.replace(/\/+$/, '').replace(/\/+[^/]*$/, '');
  return `${base}/${a.name}`;
}

/** select_existing_instance(): the -i instance; for destroy and deport a disabled secondary, taken out of the list. */
function selectExisting(table: InstanceTable, selection: Selection, unlink: boolean): Instance {
  if (selection.type !== 'name') throw new MultiFatal("Select an instance via '-i name'");
  const index = table.instances.findIndex((ip) => matches(ip, selection));
  if (index < 0) throw new MultiFatal(`No instance named ${selection.name}`);
  const selected = table.instances[index]!;
  if (unlink) {
    if (selected.primary) throw new MultiFatal('Cannot remove the primary instance');
    if (selected.enabled) throw new MultiFatal('Cannot remove enabled instances');
    table.instances.splice(index, 1);
  }
  return selected;
}

/** The secondaries' directories, as multi_instance_directories lists them. */
const secondaryDirs = (table: InstanceTable) => table.instances.filter((ip) => !ip.primary).map((ip) => ip.configDir);

/** update_cfdirs(): multi_instance_directories of the table; the directory added to or dropped from alternate_config_directories. */
async function updateDirectories(table: InstanceTable, op: 'add' | 'del', dir: string, io: CommandIo): Promise<void> {
  const alternate = table.primary.list('alternate_config_directories');
  const found = alternate.includes(dir);
  const keep = alternate.filter((d) => d !== dir);
  const set: Record<string, string> = { multi_instance_directories: secondaryDirs(table).join(' ') };
  if (op === 'add' && !found) set['alternate_config_directories'] = [...keep, dir].join(' ');
  if (op === 'del' && found) set['alternate_config_directories'] = keep.join(' ');
  await setParameters(table.instances[0]!.configDir, set, io);
}

/** assign_names(): the changed name and group into the instance's main.cf. */
async function writeNames(ip: Instance, changes: { name?: string; group?: string }, io: CommandIo): Promise<void> {
  const set: Record<string, string> = {};
  if (changes.name !== undefined) set['multi_instance_name'] = changes.name;
  if (changes.group !== undefined) set['multi_instance_group'] = changes.group;
  if (Object.keys(set).length > 0) await setParameters(ip.configDir, set, io);
}

/** Is the instance's master running (postfix status)? */
function running(table: InstanceTable, ip: Instance): boolean {
  const view = createConfigView({ mainCf: [{ kind: 'param', name: 'queue_directory', value: ip.queueDir, file: '-', line: 0, endLine: 0 }], registry: table.registry, configDirectory: ip.configDir });
  return runningMasterPid(view) !== undefined;
}

/** The primary must be ready for management (postmulti -e init). */
function checkInitialized(table: InstanceTable): void {
  if (table.primary.get('multi_instance_wrapper').trim() === '') throw new MultiFatal("multi_instance_wrapper is empty, run 'postmulti -e init' first.", SCRIPT);
  if (table.primary.get('multi_instance_enable') !== 'yes') throw new MultiFatal("multi_instance_enable!=yes, run 'postmulti -e init' first.", SCRIPT);
}

/** assign_new_parameter(): config_directory=, and with create queue_directory= and data_directory=. */
function newParameters(action: 'create' | 'import', args: readonly string[]): Partial<Record<'config_directory' | 'queue_directory' | 'data_directory', string>> {
  const out: Partial<Record<'config_directory' | 'queue_directory' | 'data_directory', string>> = {};
  for (const arg of args) {
    const eq = arg.indexOf('=');
    const name = eq < 0 ? '' : arg.slice(0, eq).trim();
    if (name === '') throw new MultiFatal(`Malformed parameter setting '${arg}'`);
    let value = arg.slice(eq + 1).trim();
    if (name !== 'config_directory' && (action === 'import' || (name !== 'queue_directory' && name !== 'data_directory'))) {
      throw new MultiFatal(`Parameter '${name}' not valid with action ${action}`);
    }
    if (!value.startsWith('/')) throw new MultiFatal(`Parameter setting '${name}' is not an absolute path`);
    value = value.replace(/(?<=.)\/+$/, '');
    if (value === '/') throw new MultiFatal(`Parameter setting '${name}' is the root directory`);
    out[name as 'config_directory'] = value;
  }
  return out;
}

/** create/import: the new instance, placed before the -a/-g/-i match among the secondaries, its files made or checked. */
async function addInstance(table: InstanceTable, action: 'create' | 'import', args: readonly string[], selection: Selection, a: NameAssignment, io: CommandIo): Promise<void> {
  checkNames(a);
  const given = newParameters(action, args);
  const primary = table.instances[0]!;
  const configDir = given.config_directory ?? privatePath('config_directory', primary.configDir, a);
  const owner = table.claims.owner(configDir);
  if (owner !== undefined) throw new MultiFatal(`new config_directory=${configDir} is already in use by instance ${owner}=${configDir}`);
  const imported = action === 'import' || (existsSync(join(configDir, 'main.cf')) && existsSync(join(configDir, 'master.cf')));
  if (action === 'import') {
    for (const f of ['main.cf', 'master.cf']) if (!existsSync(join(configDir, f))) throw new MultiFatal(`'${configDir}' lacks a ${f} file`, SCRIPT);
  }
  const ip: Instance = imported
    ? loadInstance(configDir, table.registry)
    : {
        configDir,
        queueDir: given.queue_directory ?? privatePath('queue_directory', primary.queueDir, a),
        dataDir: given.data_directory ?? privatePath('data_directory', primary.dataDir, a),
        name: undefined,
        group: undefined,
        enabled: false,
        primary: false,
      };
  const changes = assignNames(table, ip, a);
  table.claims.claim(ip);
  insertInstance(table, ip, selection);
  checkInitialized(table);

  if (!imported) writeNewInstance(table, ip, io);
  await writeNames(ip, changes, io);
  await updateDirectories(table, 'del', ip.configDir, io);
}

/** insert_instance(): before the first matching secondary; at the end when nothing is selected. */
function insertInstance(table: InstanceTable, ip: Instance, selection: Selection): void {
  if (selection.type !== 'none') {
    const at = table.instances.findIndex((old) => !old.primary && matches(old, selection));
    if (at >= 0) {
      table.instances.splice(at, 0, ip);
      return;
    }
    if (selection.type !== 'all') throw new MultiFatal('No matching secondary instances');
  }
  table.instances.push(ip);
}

/** The new instance's directories and files; master.cf is moved in last: once it is there, the instance is complete. */
function writeNewInstance(table: InstanceTable, ip: Instance, io: CommandIo): void {
  const primaryDir = table.instances[0]!.configDir;
  mkdirSync(ip.configDir, { recursive: true, mode: 0o755 });
  mkdirSync(ip.queueDir, { recursive: true, mode: 0o755 });
  // Only data_directory itself is private: its parents must stay searchable for mail_owner.
  mkdirSync(dirname(ip.dataDir), { recursive: true, mode: 0o755 });
  if (!existsSync(ip.dataDir)) mkdirSync(ip.dataDir, { mode: 0o700 });
  const tmp = join(ip.configDir, '.tmp');
  mkdirSync(tmp, { recursive: true, mode: 0o700 });
  const mainFile = join(primaryDir, 'main.cf');
  const main = editMainCfDetailed(readFileSync(mainFile, 'utf8'), { remove: PRIMARY_ONLY, set: { queue_directory: ip.queueDir, data_directory: ip.dataDir } }, mainFile);
  writeFileSync(join(tmp, 'main.cf'), main.text, { mode: 0o644 });
  const masterFile = join(primaryDir, 'master.cf');
  const masterText = readFileSync(masterFile, 'utf8');
  const inet = parseMasterCf(masterText, masterFile).filter((e) => e.type === 'inet').map((e) => `${e.name}/inet`);
  const master = inet.length > 0 ? editMaster(masterText, masterFile, 'M', 'comment', inet, (w) => io.stderr.write(`${SCRIPT}: warning: ${w}\n`)) : masterText;
  writeFileSync(join(tmp, 'master.cf'), master, { mode: 0o644 });
  renameSync(join(tmp, 'main.cf'), join(ip.configDir, 'main.cf'));
  renameSync(join(tmp, 'master.cf'), join(ip.configDir, 'master.cf'));
  rmdirSync(tmp);
}

/** The messages in the instance's queue (0 when it has no queue yet). */
async function queuedMessages(ip: Instance, io: CommandIo): Promise<number> {
  if (!existsSync(ip.queueDir) || readdirSync(ip.queueDir).length === 0) return 0;
  const store = commandQueueStore(await loadCommandConfig(ip.configDir, io));
  try {
    let n = 0;
    for (const q of QUEUE_NAMES) n += await store.count(q);
    return n;
  } finally {
    await store.close();
  }
}

/** rmdir, or the warning postmulti-script logs. */
function removeDirectory(dir: string, io: CommandIo): void {
  try {
    rmdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') io.stderr.write(`${SCRIPT}: warning: ${dir}: please verify contents and remove by hand\n`);
  }
}

/** destroy: out of multi_instance_directories, then the files Postern made. */
async function destroyInstance(table: InstanceTable, ip: Instance, io: CommandIo): Promise<void> {
  if (!existsSync(join(ip.configDir, 'main.cf'))) throw new MultiFatal(`${ip.configDir}/main.cf file not found`, SCRIPT);
  if (running(table, ip)) throw new MultiFatal(`Instance '${ip.configDir}' is not stopped`, SCRIPT);
  const queued = await queuedMessages(ip, io);
  if (queued > 0) throw new MultiFatal(`Instance '${ip.configDir}' queue is not empty: ${queued} message${queued === 1 ? '' : 's'}`, SCRIPT);
  await updateDirectories(table, 'del', ip.configDir, io);
  if (existsSync(ip.queueDir)) for (const name of QUEUE_FILES) rmSync(join(ip.queueDir, name), { recursive: true, force: true });
  for (const dir of [ip.dataDir, ip.queueDir]) removeDirectory(dir, io);
  for (const f of ['master.cf', 'main.cf']) rmSync(join(ip.configDir, f), { force: true });
  removeDirectory(ip.configDir, io);
}

/** deport: out of multi_instance_directories (into alternate_config_directories); nothing is removed. */
async function deportInstance(table: InstanceTable, ip: Instance, io: CommandIo): Promise<void> {
  if (!existsSync(join(ip.configDir, 'main.cf'))) {
    await updateDirectories(table, 'del', ip.configDir, io);
    return;
  }
  if (running(table, ip)) throw new MultiFatal(`Instance '${ip.configDir}' is not stopped`, SCRIPT);
  await updateDirectories(table, 'add', ip.configDir, io);
}

/** init: the primary's main.cf hooks into multi-instance management (no other instance is read). */
export async function initPrimary(dir: string, io: CommandIo): Promise<void> {
  if (!existsSync(join(dir, 'main.cf'))) throw new MultiFatal(`Cannot parse ${dir}/main.cf file: No such file or directory`);
  await setParameters(dir, { multi_instance_wrapper: POSTERN_WRAPPER, multi_instance_enable: 'yes' }, io);
}

/** manage(): one -e action. */
export async function manage(action: EditAction, table: InstanceTable, args: readonly string[], selection: Selection, a: NameAssignment, io: CommandIo): Promise<number> {
  switch (action) {
    case 'init':
      await initPrimary(table.instances[0]!.configDir, io);
      return 0;
    case 'create':
    case 'import':
      await addInstance(table, action, args, selection, a, io);
      return 0;
    case 'assign': {
      const target = selectExisting(table, selection, false);
      checkNames(a);
      const changes = assignNames(table, target, a);
      if (Object.keys(changes).length === 0) return 0;
      checkInitialized(table);
      await writeNames(target, changes, io);
      return 0;
    }
    case 'destroy':
    case 'deport': {
      const target = selectExisting(table, selection, true);
      checkInitialized(table);
      await (action === 'destroy' ? destroyInstance(table, target, io) : deportInstance(table, target, io));
      return 0;
    }
    case 'enable':
    case 'disable': {
      const target = selectExisting(table, selection, false);
      checkInitialized(table);
      await setParameters(target.configDir, { multi_instance_enable: action === 'enable' ? 'yes' : 'no' }, io);
      return 0;
    }
  }
}

