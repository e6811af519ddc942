/**
 * master(8): the Postern supervisor. It reads main.cf and master.cf, maps
 * every enabled service to the plugin package that provides its command,
 * listens on every endpoint itself, and starts service processes on demand
 * (see master-spawn.ts). SIGHUP (postern reload) re-reads the configuration
 * without dropping sessions in progress; SIGTERM (postern stop) stops
 * gracefully.
 *
 * Files: queue_directory/pid/master.pid holds master's process ID.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import type { Logger } from '../contracts/logger.js';
import type { ConfigView } from '../contracts/config.js';
import { entryKey, type MasterEntry } from '../contracts/service.js';
import { describeError, posternError } from '../errors.js';
import { MAIL_CLASS } from '../protocol/services.js';
import { flushLogs } from '../log/logger.js';
import { discoverPlugins, pluginSearchDirs, resolveServices, CORE_VERSION, type InstalledPlugin, type PluginSet } from '../plugin/loader.js';
import { backendRegistry, openConfiguredQueueStore } from '../plugin/backends.js';
import { openEndpoint, type Endpoint } from './master-listen.js';
import { effectiveProcessLimit } from '../config/index.js';
import { CHILD_MAIN, MasterService, daemonPath, type ServiceStatus, type SpawnOptions } from './master-spawn.js';
import { SparePool } from './master-spare.js';
import { coreMainCfView, loadConfiguration, pluginDirsFromMainCf, type Configuration } from './master-config.js';
import { processLogger } from './runtime.js';
import { serviceAccount, setPermissions, type Account } from './master-perms.js';
import { unreachableDirectories } from './master-access.js';
import type { ChildSpec } from './master-proto.js';

/** How long a restarted master waits for ports its killed predecessor's processes still hold (ms). */
const KILLED_MASTER_PORT_WAIT = 10_000;

export interface MasterOptions {
  readonly configDirectory: string;
  /** start-fg: log to this file instead of maillog_file ("/dev/stdout"). */
  readonly logFile?: string;
  readonly verbose?: boolean;
}

/** queue_directory/pid/master.pid */
export function masterPidFile(config: ConfigView): string {
  return join(config.get('queue_directory'), 'pid', 'master.pid');
}

/** The running master's pid, or undefined (a stale pid file is ignored). */
export function runningMasterPid(config: ConfigView): number | undefined {
  let pid: number;
  try {
    pid = Number.parseInt(readFileSync(masterPidFile(config), 'utf8').trim(), 10);
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    process.kill(pid, 0);
    return pid;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM' ? pid : undefined;
  }
}

export class Master {
  private readonly services = new Map<string, MasterService>();
  private configuration!: Configuration;
  private plugins!: PluginSet;
  private log!: Logger;
  private stopping = false;
  private reloading: Promise<void> | undefined;
  private chrootWarned = false;
  private account: Account | undefined;
  private inUseWait = 0;
  private spares: SparePool | undefined;

  private constructor(private readonly options: MasterOptions) {}

  /** Reads the configuration, opens every endpoint and starts supervising. */
  static async start(options: MasterOptions): Promise<Master> {
    const m = new Master(options);
    await m.init();
    return m;
  }

  private async init(): Promise<void> {
    const dir = this.options.configDirectory;
    // the spares first: they load the plugins while master reads its configuration
    const early = coreMainCfView(dir);
    const extraDirs = pluginDirsFromMainCf(dir, early);
    this.spares = new SparePool(CHILD_MAIN, spareCount(early.view), pluginSearchDirs(extraDirs), nodeOptions(early.view), { warn: (text) => this.log?.warn(text) });
    try {
      await this.load(dir, extraDirs);
    } catch (err) {
      await this.spares.stop();
      throw err;
    }
  }

  private async load(dir: string, extraDirs: readonly string[]): Promise<void> {
    this.plugins = await discoverPlugins(extraDirs);
    this.configuration = await loadConfiguration(dir, this.plugins);
    const config = this.configuration.view();
    this.log = processLogger(config, 'master', { file: this.options.logFile, verbose: this.options.verbose });
    const running = runningMasterPid(config);
    if (running && running !== process.pid) throw posternError('POSTERN_ERR_MASTER_RUNNING', running);
    // a pid file of a master that is gone: it was killed, and its processes may still hold its ports
    this.inUseWait = existsSync(masterPidFile(config)) ? KILLED_MASTER_PORT_WAIT : 0;
    const providers = resolveServices(this.configuration.entries, this.plugins);
    for (const w of this.configuration.warnings) this.log.warn(w);

    const queueDir = config.get('queue_directory');
    for (const sub of [MAIL_CLASS.PUBLIC, MAIL_CLASS.PRIVATE, 'pid']) mkdirSync(join(queueDir, sub), { recursive: true });
    this.account = serviceAccount(config, this.log);
    const unreachable = unreachableDirectories(config, this.account);
    for (const err of unreachable) this.log.fatal(describeError(err));
    if (unreachable.length > 0) throw unreachable[0];
    if (this.account) await setPermissions(config, this.account, this.options.logFile, () => openConfiguredQueueStore(backendRegistry(this.plugins.plugins), config, this.log));

    let opened = 0;
    for (const entry of this.configuration.entries) {
      try {
        await this.addService(entry, providers.get(entry)!);
        opened++;
      } catch (err) {
        this.log.error(describeError(err));
      }
    }
    if (opened === 0 && this.configuration.entries.length > 0) {
      await this.stop(false);
      throw posternError('POSTERN_ERR_LISTEN', 'every service', 'its endpoint', 'no service could be started', 'see the errors above');
    }
    writeFileSync(masterPidFile(config), `${String(process.pid).padStart(10)}\n`);
    this.log.info(`daemon started -- version ${CORE_VERSION}, configuration ${dir}`);
    process.on('SIGHUP', () => void this.reload());
    for (const sig of ['SIGTERM', 'SIGINT'] as const) {
      process.on(sig, () => {
        this.log.info(`terminating on signal ${sig === 'SIGTERM' ? 15 : 2}`);
        void this.stop(true).then(() => process.exit(0));
      });
    }
  }

  private spawnOptions(entry: MasterEntry, provider: InstalledPlugin, endpoint: Endpoint): SpawnOptions {
    const config = this.configuration.view(entry);
    const command = provider.definition.commands[entry.command]!;
    const spec: ChildSpec = {
      configDirectory: this.options.configDirectory,
      entry,
      pluginEntry: provider.entry,
      pluginName: provider.name,
      searchDirs: this.plugins.searchDirs,
      longRunning: command.longRunning ?? false,
      logFile: this.options.logFile,
      verbose: this.options.verbose ?? false,
      dropTo: this.credentials(entry),
    };
    if (entry.chroot && !this.chrootWarned) {
      this.chrootWarned = true;
      this.log.warn(`${entry.file}: chroot (column 5) is not available on Node.js; services run without chroot`);
    }
    return {
      entry,
      endpoint,
      spec,
      maxproc: effectiveProcessLimit(entry, config),
      throttleTime: config.time('service_throttle_time') * 1000,
      spareCores: Number(config.get('master_spawn_idle_cores')) || 0,
      daemonPath: daemonPath(provider.dir, entry.command),
      log: this.log,
      program: `${config.expand(entry.overrides.syslog_name ?? config.get('syslog_name'))}/${entry.command}`,
      spares: this.spares,
      execArgv: nodeOptions(config),
      onPass: (service, socket) => this.pass(service, socket),
      onRelay: (from, to, data, handle) => this.relay(from, to, data, handle),
    };
  }

  /** Unprivileged services run as mail_owner when master runs as root (they drop to it after start-up). */
  private credentials(entry: MasterEntry): ChildSpec['dropTo'] {
    return entry.unprivileged && this.account ? { name: this.account.name, uid: this.account.uid, gid: this.account.gid } : undefined;
  }

  private async addService(entry: MasterEntry, provider: InstalledPlugin): Promise<void> {
    let service: MasterService | undefined;
    const config = this.configuration.view(entry);
    const endpoint = await openEndpoint(entry, config, this.account, {
      connection: (socket) => service!.connection(socket),
      trigger: (data) => service!.trigger(data.toString('latin1')),
    }, this.inUseWait);
    service = new MasterService(this.spawnOptions(entry, provider, endpoint));
    this.services.set(entryKey(entry), service);
  }

  private pass(service: string, socket: Socket): void {
    const target = this.services.get(`${service}/pass`);
    if (target) target.connection(socket);
    else {
      this.log.warn(`pass request for unknown service ${service}/pass`);
      socket.destroy();
    }
  }

  /** One service process relays to another (service/relay.ts); a socket nobody takes is closed. */
  private relay(from: number, to: number, data: unknown, handle: unknown): void {
    for (const s of this.services.values()) if (s.relayTo(to, from, data, handle)) return;
    (handle as { destroy?: () => void } | undefined)?.destroy?.();
  }

  /** SIGHUP: re-read main.cf and master.cf; sessions in progress finish in the old processes. */
  reload(): Promise<void> {
    this.reloading ??= this.doReload().finally(() => (this.reloading = undefined));
    return this.reloading;
  }

  private async doReload(): Promise<void> {
    if (this.stopping) return;
    const dir = this.options.configDirectory;
    let next: Configuration;
    let plugins: PluginSet;
    let providers: Map<MasterEntry, InstalledPlugin>;
    try {
      plugins = await discoverPlugins(pluginDirsFromMainCf(dir));
      next = await loadConfiguration(dir, plugins);
      providers = resolveServices(next.entries, plugins);
    } catch (err) {
      this.log.error(`reload failed, keeping the running configuration: ${describeError(err)}`);
      return;
    }
    this.log.info(`reload -- version ${CORE_VERSION}, configuration ${dir}`);
    for (const w of next.warnings) this.log.warn(w);
    const old = this.configuration;
    this.configuration = next;
    this.plugins = plugins;
    this.spares?.update(spareCount(next.view()), plugins.searchDirs, nodeOptions(next.view()));
    const keep = new Set<string>();
    for (const entry of next.entries) {
      const key = entryKey(entry);
      keep.add(key);
      const existing = this.services.get(key);
      const before = old.entries.find((e) => entryKey(e) === key);
      const sameEndpoint = before && before.private === entry.private && (entry.type !== 'inet' || sameInterfaces(old.view(), next.view()));
      if (existing && sameEndpoint) {
        const { endpoint: _e, ...rest } = this.spawnOptions(entry, providers.get(entry)!, existing.endpoint);
        existing.update(rest);
        continue;
      }
      if (existing) await this.removeService(key);
      try {
        await this.addService(entry, providers.get(entry)!);
      } catch (err) {
        this.log.error(describeError(err));
      }
    }
    for (const key of [...this.services.keys()]) if (!keep.has(key)) await this.removeService(key);
  }

  private async removeService(key: string): Promise<void> {
    const s = this.services.get(key);
    if (!s) return;
    this.services.delete(key);
    s.halt();
    await s.endpoint.close();
    await s.stop(true);
  }

  /** Stops every service; graceful lets sessions in progress finish (up to a deadline). */
  async stop(graceful = true): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    const spares = this.spares?.stop();
    for (const s of this.services.values()) s.halt();
    await Promise.all([...this.services.values()].map((s) => s.endpoint.close()));
    await Promise.all([...this.services.values()].map((s) => s.stop(graceful)));
    await spares;
    this.services.clear();
    if (this.configuration) rmSync(masterPidFile(this.configuration.view()), { force: true });
    await flushLogs();
  }

  status(): ServiceStatus[] {
    return [...this.services.values()].map((s) => s.status());
  }

  get config(): ConfigView {
    return this.configuration.view();
  }
}

/** service_node_options (spares have main.cf's: a spare does not know its service yet). */
function nodeOptions(config: ConfigView): string[] {
  return config.get('service_node_options').split(/\s+/).filter(Boolean);
}

function spareCount(config: ConfigView): number {
  return Math.max(0, Number.parseInt(config.get('master_spare_processes'), 10) || 0);
}

function sameInterfaces(a: ConfigView, b: ConfigView): boolean {
  return a.get('inet_interfaces') === b.get('inet_interfaces') && a.get('inet_protocols') === b.get('inet_protocols');
}
