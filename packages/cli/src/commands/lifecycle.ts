/**
 * postfix(1) for Postern: start, start-fg, stop, reload, status, check.
 * Messages keep postfix-script's shape ("postern/postfix-script: starting
 * the Postern mail system").
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  describeError,
  discoverPlugins,
  loadConfiguration,
  Master,
  masterPidFile,
  coreMainCfView,
  permissionProblems,
  unreachableDirectories,
  pluginDirsFromMainCf,
  resolveServices,
  runningMasterPid,
  serviceAccount,
  setMaildropPermissions,
  setPermissions,
  backendRegistry,
  processLogger,
  openConfiguredQueueStore,
  coHostProblems,
  type Configuration,
  type PluginSet,
} from '@postern/core';
import { unknownRestrictions } from './check-restrictions.js';
import { multiInstance, throughWrapper } from './multi-wrapper.js';
import { getopt, hasOpt, optValue } from '../getopt.js';
import { configDirectory, initDefaultInstance } from '../instance.js';
import type { CommandIo } from '../io.js';

/** postfix(1)'s own subcommands. */
export const LIFECYCLE: readonly string[] = ['start', 'start-fg', 'stop', 'abort', 'reload', 'status', 'check', 'set-permissions', 'flush'];

const SCRIPT = 'postern/postfix-script';
const POSTERN_BIN = fileURLToPath(new URL('../bin/postern.js', import.meta.url));

function fatal(io: CommandIo, text: string): number {
  io.stderr.write(`${SCRIPT}: fatal: ${text}\n`);
  return 1;
}

interface Loaded {
  readonly configuration: Configuration;
  readonly dir: string;
}

/** The configuration with the installed plugins, every master.cf service resolved (`check` and the signalling commands). */
async function load(io: CommandIo, argv: readonly string[]): Promise<Loaded & { plugins: PluginSet }> {
  const p = getopt(argv, 'c:v');
  const dir = configDirectory(optValue(p, 'c'), io.env).dir;
  if (!existsSync(join(dir, 'main.cf'))) throw new Error(noMainCf(dir));
  const plugins = await discoverPlugins(pluginDirsFromMainCf(dir));
  const configuration = await loadConfiguration(dir, plugins);
  resolveServices(configuration.entries, plugins);
  return { configuration, dir, plugins };
}

function noMainCf(dir: string): string {
  return `no main.cf in ${dir} (use -c DIR, or run "postern start" once to create the default instance)`;
}

async function check(io: CommandIo, argv: readonly string[]): Promise<number> {
  try {
    const { configuration, plugins } = await load(io, argv);
    for (const w of configuration.warnings) io.stderr.write(`postern/postfix-script: warning: ${w}\n`);
    for (const w of permissionProblems(configuration.view(), configuration.configDirectory)) io.stderr.write(`${SCRIPT}: warning: ${w}\n`);
    const unreachable = unreachableDirectories(configuration.view());
    if (unreachable.length > 0) return fatal(io, unreachable.map(describeError).join(`\n${SCRIPT}: fatal: `));
    const unknown = [...coHostProblems(configuration, plugins), ...(await unknownRestrictions(configuration, plugins))];
    if (unknown.length > 0) return fatal(io, unknown.join(`\n${SCRIPT}: fatal: `));
    const queue = configuration.view().get('queue_directory');
    for (const sub of ['public', 'private', 'pid']) mkdirSync(join(queue, sub), { recursive: true });
    return 0;
  } catch (err) {
    return fatal(io, describeError(err));
  }
}

/** The configuration directory, the default instance made on its first start. */
async function startDirectory(io: CommandIo, argv: readonly string[]): Promise<{ dir: string; verbose: boolean }> {
  const p = getopt(argv, 'c:v');
  const choice = configDirectory(optValue(p, 'c'), io.env);
  if (choice.isDefault && initDefaultInstance(io.env)) {
    io.stderr.write(`${SCRIPT}: created the default configuration in ${choice.dir}\n`);
    const { ADMIN_COMMANDS } = await import('./admin.js');
    await ADMIN_COMMANDS['newaliases']!([], io);
  }
  if (!existsSync(join(choice.dir, 'main.cf'))) throw new Error(noMainCf(choice.dir));
  return { dir: choice.dir, verbose: hasOpt(p, 'v') };
}

/** postfix start-fg: master in this process; it reads and checks the configuration itself. */
async function startForeground(io: CommandIo, argv: readonly string[], daemon: boolean): Promise<number> {
  let dir: string;
  try {
    const start = await startDirectory(io, argv);
    dir = start.dir;
    await Master.start({ configDirectory: dir, logFile: daemon ? undefined : '/dev/stdout', verbose: start.verbose });
  } catch (err) {
    return fatal(io, describeError(err));
  }
  if (!daemon) io.stderr.write(`${SCRIPT}: the Postern mail system is running in the foreground (maillog to stdout, queue ${coreMainCfView(dir).view.get('queue_directory')})\n`);
  // master runs until a signal stops it
  return new Promise<number>(() => undefined);
}

/**
 * postfix start: master is started at once and checks the configuration
 * itself (start-fg --daemon loads it as `check` does); what it refuses with
 * reaches the terminal in its own words. Only the running check and the
 * first-start set-up happen here, from main.cf alone: finding the plugins
 * twice would delay the first accepted message by a process start-up.
 */
async function startDaemon(io: CommandIo, argv: readonly string[]): Promise<number> {
  let start: { dir: string; verbose: boolean };
  try {
    start = await startDirectory(io, argv);
  } catch (err) {
    return fatal(io, describeError(err));
  }
  const { view } = coreMainCfView(start.dir);
  const running = runningMasterPid(view);
  if (running) return fatal(io, `the Postern mail system is already running (pid ${running})`);
  io.stderr.write(`${SCRIPT}: starting the Postern mail system\n`);
  const pidDir = join(view.get('queue_directory'), 'pid');
  try {
    mkdirSync(pidDir, { recursive: true });
  } catch (err) {
    return fatal(io, describeError(err));
  }
  const errFile = join(pidDir, 'master.stderr');
  const fd = openSync(errFile, 'w');
  const child = spawn(process.execPath, [POSTERN_BIN, 'start-fg', '--daemon', '-c', start.dir, ...(start.verbose ? ['-v'] : [])], {
    detached: true,
    stdio: ['ignore', fd, fd],
    env: io.env,
  });
  closeSync(fd);
  child.unref();
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) break;
    if (runningMasterPid(view) === child.pid) return 0;
    await new Promise((r) => setTimeout(r, 20));
  }
  const why = readFileSync(errFile, 'utf8').trim();
  // start-fg's own fatal lines (a configuration error, a missing plugin) as they are
  if (why.startsWith(`${SCRIPT}: `)) {
    io.stderr.write(`${why}\n`);
    return 1;
  }
  return fatal(io, why ? `master did not start:\n${why}` : 'master did not start in time; see the maillog');
}

function signalMaster(io: CommandIo, argv: readonly string[], signal: NodeJS.Signals, wait: boolean): Promise<number> {
  return (async () => {
    let loaded: Loaded;
    try {
      loaded = await load(io, argv);
    } catch (err) {
      return fatal(io, describeError(err));
    }
    const view = loaded.configuration.view();
    const pid = runningMasterPid(view);
    if (!pid) return fatal(io, 'the Postern mail system is not running');
    io.stderr.write(`${SCRIPT}: ${signal === 'SIGHUP' ? 'refreshing' : 'stopping'} the Postern mail system\n`);
    process.kill(pid, signal);
    if (!wait) return 0;
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      if (!runningMasterPid(view)) {
        io.stderr.write(`${SCRIPT}: waiting for the Postern mail system to terminate\n`);
        return 0;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    return fatal(io, `master (pid ${pid}) did not stop within 30 s; its pid file is ${masterPidFile(view)}`);
  })();
}

async function status(io: CommandIo, argv: readonly string[]): Promise<number> {
  let loaded: Loaded;
  try {
    loaded = await load(io, argv);
  } catch (err) {
    return fatal(io, describeError(err));
  }
  const pid = runningMasterPid(loaded.configuration.view());
  if (!pid) {
    io.stderr.write(`${SCRIPT}: the Postern mail system is not running\n`);
    return 1;
  }
  io.stderr.write(`${SCRIPT}: the Postern mail system is running: PID: ${pid}\n`);
  return 0;
}

/**
 * postfix set-permissions: the queue, the maildrop directory (1733, group
 * setgid_group: local submission by any user), data_directory and the
 * maillog file get their owners and modes. As root with another mail_owner
 * everything becomes mail_owner's; otherwise only the maildrop directory is made.
 */
async function setPermissionsCommand(io: CommandIo, argv: readonly string[]): Promise<number> {
  try {
    const { configuration, plugins } = await load(io, argv);
    const view = configuration.view();
    mkdirSync(view.get('queue_directory'), { recursive: true });
    const account = serviceAccount(view);
    if (account) await setPermissions(view, account, undefined, () => openConfiguredQueueStore(backendRegistry(plugins.plugins), view, processLogger(view, 'postfix-script')));
    else setMaildropPermissions(view, undefined);
    return 0;
  } catch (err) {
    return fatal(io, describeError(err));
  }
}

/** postfix flush: postqueue -f. */
async function flushCommand(io: CommandIo, argv: readonly string[]): Promise<number> {
  const { ADMIN_COMMANDS } = await import('./admin.js');
  return ADMIN_COMMANDS['queue']!([...argv, '-f'], io);
}

export function lifecycleCommand(name: string, argv: readonly string[], io: CommandIo): Promise<number> {
  const daemon = name === 'start-fg' && argv.includes('--daemon');
  // bad options are the command's to report, on this instance
  const explicit = (() => {
    try {
      return optValue(getopt(argv, 'c:v'), 'c') ?? '';
    } catch {
      return undefined;
    }
  })();
  const wrapped = daemon || explicit === undefined ? undefined : throughWrapper(name, argv, explicit || undefined, io);
  if (wrapped) return wrapped;
  switch (name) {
    case 'start':
      return startDaemon(io, argv);
    case 'start-fg':
      if (!daemon && multiInstance(io.env)) return Promise.resolve(fatal(io, 'start-fg does not support multi_instance_directories'));
      return startForeground(io, argv.filter((a) => a !== '--daemon'), daemon);
    case 'stop':
      return signalMaster(io, argv, 'SIGTERM', true);
    case 'abort':
      return signalMaster(io, argv, 'SIGKILL', true);
    case 'reload':
      return signalMaster(io, argv, 'SIGHUP', false);
    case 'status':
      return status(io, argv);
    case 'check':
      return check(io, argv);
    case 'set-permissions':
      return setPermissionsCommand(io, argv);
    case 'flush':
      return flushCommand(io, argv);
    default:
      return Promise.resolve(fatal(io, `unknown command: ${name}`));
  }
}
