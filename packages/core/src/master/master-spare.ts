/**
 * Spare processes (Postern's own; Postfix has no need of them): a C daemon
 * starts in a millisecond, a Node.js service process in 0.5-2 s, most of it
 * spent loading core and the plugin packages. master keeps
 * `master_spare_processes` processes that have loaded every installed plugin
 * and wait to be told which service to be. A service that needs a process
 * takes a spare (master_spawn.c's fork, without the start-up), and master
 * starts another spare in its place; with none ready, it forks as before.
 * So a process killed under load, or one more process for a busy service, is
 * running in milliseconds.
 *
 * A spare knows no configuration: it reads main.cf, master.cf and its
 * service's overrides only once it has a service (as any service process
 * does), so only the installed plugins are fixed when it starts; a reload
 * replaces the spares.
 */
import { fork, type ChildProcess } from 'node:child_process';
import type { Logger } from '../contracts/logger.js';
import { discoverPlugins } from '../plugin/loader.js';
import type { ChildSpec, ToChild, ToMaster } from './master-proto.js';

/** The environment variable that makes a forked service process a spare (its value: the plugin search directories, JSON). */
export const SPARE_ENV = 'POSTERN_SPARE';

/** A spare that dies before it is ready, of its own accord, delays the next one this long (ms). */
const SPARE_FAILURE_DELAY = 10_000;

interface Spare {
  readonly child: ChildProcess;
  warm: boolean;
}

export class SparePool {
  private readonly spares = new Set<Spare>();
  private stopped = false;
  private refillTimer?: NodeJS.Timeout;

  constructor(
    private readonly main: string,
    private size: number,
    private searchDirs: readonly string[],
    private execArgv: readonly string[],
    private readonly log: Pick<Logger, 'warn'>,
  ) {
    this.refill();
  }

  /**
   * A spare to be the service `spec` describes, told so (at once, or when it
   * has loaded the plugins: even a spare still loading them is ahead of a new
   * process); undefined when there is none, or when the service wants other
   * Node.js options than the spares were started with (the caller forks).
   * The process is the caller's from now on.
   */
  take(spec: ChildSpec, execArgv: readonly string[]): ChildProcess | undefined {
    if (execArgv.join(' ') !== this.execArgv.join(' ')) return undefined;
    const all = [...this.spares].filter((s) => s.child.connected);
    const spare = all.find((s) => s.warm) ?? all[0];
    if (!spare) return undefined;
    this.spares.delete(spare);
    const { child } = spare;
    child.removeAllListeners('message');
    child.removeAllListeners('exit');
    child.removeAllListeners('error');
    const become = () => child.send({ t: 'become', spec } satisfies ToChild, undefined, undefined, () => undefined);
    if (spare.warm) become();
    else child.on('message', (msg: ToMaster) => msg.t === 'warm' && become());
    // the next spare once this one runs its service: on a busy machine two
    // processes starting at once would each take twice as long
    const next = () => {
      child.off('message', onReady);
      child.off('exit', next);
      this.refill();
    };
    const onReady = (msg: ToMaster) => msg.t === 'ready' && next();
    child.on('message', onReady);
    child.once('exit', next);
    return child;
  }

  /** reload: new plugin directories, Node.js options or size; the running spares are replaced. */
  update(size: number, searchDirs: readonly string[], execArgv: readonly string[]): void {
    this.size = size;
    this.searchDirs = searchDirs;
    this.execArgv = execArgv;
    for (const s of this.spares) s.child.kill('SIGTERM');
    this.spares.clear();
    this.refill();
  }

  /** Ends the spares; resolves when they have gone. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.refillTimer);
    const gone = [...this.spares].map((s) => new Promise<void>((resolve) => (s.child.exitCode !== null || s.child.signalCode !== null ? resolve() : s.child.once('exit', () => resolve()))));
    for (const s of this.spares) s.child.kill('SIGTERM');
    this.spares.clear();
    await Promise.all(gone);
  }

  private refill(delay = 0): void {
    if (this.stopped) return;
    if (delay > 0) {
      clearTimeout(this.refillTimer);
      this.refillTimer = setTimeout(() => this.refill(), delay);
      this.refillTimer.unref();
      return;
    }
    while (this.spares.size < this.size) {
      let child: ChildProcess;
      try {
        child = fork(this.main, ['spare'], {
          env: { ...process.env, [SPARE_ENV]: JSON.stringify(this.searchDirs) },
          execArgv: [...process.execArgv, ...this.execArgv],
          stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
          serialization: 'json',
        });
      } catch (err) {
        this.log.warn(`cannot start a spare process: ${(err as Error).message}`);
        return this.refill(SPARE_FAILURE_DELAY);
      }
      const spare: Spare = { child, warm: false };
      this.spares.add(spare);
      child.on('message', (msg: ToMaster) => {
        if (msg.t === 'warm') spare.warm = true;
      });
      child.on('error', () => undefined);
      child.on('exit', (code, signal) => {
        if (!this.spares.delete(spare)) return;
        // killed from outside: another at once; failed by itself: not in a loop
        const failed = !spare.warm && signal === null && code !== 0;
        if (failed) this.log.warn(`spare process pid ${child.pid} exit status ${code}`);
        this.refill(failed ? SPARE_FAILURE_DELAY : 0);
      });
    }
  }
}

/**
 * The process side: a spare loads every plugin package, tells master it is
 * warm, and resolves with the service master gives it. It leaves with master.
 */
export async function waitAsSpare(searchDirs: readonly string[], tell: (msg: ToMaster) => void): Promise<ChildSpec> {
  const exit = () => process.exit(0);
  process.on('disconnect', exit);
  const become = new Promise<ChildSpec>((resolve) => {
    const on = (msg: ToChild) => {
      if (msg.t !== 'become') return;
      process.off('message', on);
      process.off('disconnect', exit);
      resolve(msg.spec);
    };
    process.on('message', on);
  });
  process.title = 'postern/spare';
  await discoverPlugins(searchDirs);
  tell({ t: 'warm' });
  return become;
}
