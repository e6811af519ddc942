/**
 * One master.cf service as master runs it (master_spawn.c, master_avail.c,
 * master_wakeup.c): its processes, started on demand and only up to maxproc;
 * connections master had to accept itself, queued until a process takes them;
 * wakeup triggers; restarts when a process dies; retirement on reload and
 * stop. As in Postfix (master_reap_child), only a process that dies before it
 * served anything throttles the service (back-off 1 s, 2 s, 4 s ... up to
 * service_throttle_time): one that served and then died, of a signal or an
 * error, is replaced at once, and so is one killed from outside (SIGKILL,
 * SIGTERM ...) while it was still starting, since a Node process takes a
 * while to be ready and a kill in that time says nothing about the program.
 *
 * Service processes hold the listening sockets and accept directly; master
 * watches a socket only while no process holds it (master_avail_listen), so
 * it accepts a connection only to start a process for it. A process reports
 * its load; master starts another one only when every running one is
 * saturated (event loop busy) and a CPU core is free to run it
 * (master_spawn_idle_cores), never more than maxproc. (On a machine whose
 * cores are all busy, a process's event loop looks saturated because it
 * waits for the CPU: another process would only add to the contention.)
 */
import { fork, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import type { Logger } from '../contracts/logger.js';
import type { MasterEntry } from '../contracts/service.js';
import type { Endpoint, SocketHandle } from './master-listen.js';
import { CHILD_ENV, type ChildSpec, type ToChild, type ToMaster } from './master-proto.js';
import type { SparePool } from './master-spare.js';

/** A process counts as saturated above this event-loop utilisation. */
export const SATURATED_ELU = 0.8;
/** How long a stopping process may take before it is killed (ms). */
export const STOP_DEADLINE = 10_000;
/** Signals another process sends; a process they end did not fail by itself. */
const EXTERNAL_SIGNALS: ReadonlySet<NodeJS.Signals> = new Set(['SIGKILL', 'SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT']);
/** A process that stays up this long resets the crash back-off (ms). */
const STABLE_AFTER = 10_000;
/**
 * Stress mode lasts this long after the service last ran out of room, and
 * the "process limit" warning is logged at most this often (master_avail.c: 1000 s).
 */
const STRESS_TIME = 1_000_000;

interface Proc {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly started: number;
  ready: boolean;
  retiring: boolean;
  leaving: boolean;
  clients: number;
  elu: number;
  /** Listening on the service's sockets (told to, not yet leaving). */
  listening: boolean;
  /** Was given a connection or a trigger, or runs long (Postfix's use_count > 0). */
  served: boolean;
  /** Connections on their way to the process: master's descriptors, closed when sent or the process dies. */
  readonly handing: Set<Socket>;
  killTimer?: NodeJS.Timeout;
}

export interface ServiceStatus {
  readonly service: string;
  readonly endpoint: string;
  readonly processes: readonly { pid: number; clients: number; ready: boolean; retiring: boolean }[];
  readonly maxproc: number;
  readonly throttled: boolean;
  readonly pending: number;
}

export interface SpawnOptions {
  readonly entry: MasterEntry;
  readonly endpoint: Endpoint;
  readonly spec: ChildSpec;
  /** maxproc with "-" resolved (0 = unlimited). */
  readonly maxproc: number;
  /** service_throttle_time, ms. */
  readonly throttleTime: number;
  /** master_spawn_idle_cores: idle CPU needed to start another process. */
  readonly spareCores: number;
  /** Where the program "lives", for log lines (Postfix logs the daemon's path). */
  readonly daemonPath: string;
  readonly log: Logger;
  /** The service's own log name (syslog_name/command), for lines master logs on a process's behalf. */
  readonly program?: string;
  /** Processes started ahead that can be any service (master-spare.ts). */
  readonly spares?: SparePool;
  /** Node.js options of a new process (service_node_options). */
  readonly execArgv: readonly string[];
  /** A process asked to hand a connection to a pass service. */
  readonly onPass?: (service: string, socket: Socket) => void;
  /** A process relays a message (and maybe a socket) to the process `to`. */
  readonly onRelay?: (from: number, to: number, data: unknown, handle: unknown) => void;
}

/** Idle CPU of the whole machine over the last second, in cores (from os.cpus()); 0 until measured. */
const idleCores = (() => {
  const idleMs = () => cpus().reduce((n, c) => n + c.times.idle, 0);
  let at = 0;
  let idle = 0;
  let value = 0;
  let timer: NodeJS.Timeout | undefined;
  const sample = () => {
    const now = Date.now();
    const i = idleMs();
    if (at) value = (i - idle) / Math.max(1, now - at);
    at = now;
    idle = i;
  };
  return (): number => {
    if (!timer) {
      sample();
      timer = setInterval(sample, 1000).unref();
    }
    return value;
  };
})();

export const CHILD_MAIN = fileURLToPath(new URL('./master-child.js', import.meta.url));

export class MasterService {
  private readonly procs = new Set<Proc>();
  private readonly pending: Socket[] = [];
  private readonly pendingTriggers: string[] = [];
  private throttledUntil = 0;
  private throttleTimer?: NodeJS.Timeout;
  private failures = 0;
  private wakeupTimer?: NodeJS.Timeout;
  private used = false;
  private stopped = false;
  private spawning = 0;
  /** New processes start with stress=yes until then (ms). */
  private stressUntil = 0;
  private busyWarned = 0;

  constructor(private opts: SpawnOptions) {
    idleCores(); // start measuring
    this.armWakeup();
  }

  private armWakeup(): void {
    clearInterval(this.wakeupTimer);
    const { wakeup } = this.opts.entry;
    if (wakeup > 0) {
      this.wakeupTimer = setInterval(() => this.wakeup(), wakeup * 1000);
      this.wakeupTimer.unref();
      // master_wakeup_init(): wake the service once now (so pickup takes what
      // sendmail left in maildrop while the system was down), then on the timer;
      // a conditional ("?") service is not woken before it has been used
      if (!this.opts.entry.wakeupIfUsed) setImmediate(() => this.stopped || this.wakeup());
    }
  }

  /**
   * reload: new settings for new processes; the running ones finish what they
   * do and leave (they still count against maxproc until they have gone).
   */
  update(opts: Omit<SpawnOptions, 'endpoint'>): void {
    this.opts = { ...opts, endpoint: this.opts.endpoint };
    this.armWakeup();
    this.failures = 0;
    this.throttledUntil = 0;
    this.retire();
    this.dispatch();
  }

  get key(): string {
    return `${this.opts.entry.name}/${this.opts.entry.type}`;
  }

  /** A connection master accepted: give it to the least busy process, starting one if needed. */
  connection(socket: Socket): void {
    this.used = true;
    socket.on('error', () => undefined);
    this.pending.push(socket);
    this.checkStress();
    this.dispatch();
  }

  /**
   * STRESS_README, master_avail.c: a public service (not local-only, maxproc
   * above 1) whose clients fill its process limit (Postfix: one client per
   * process) logs Postfix's three warnings (at most every 1000 s), asks its
   * processes to finish and leave, and starts new ones with "-o stress=yes",
   * until it has stayed below the limit for 1000 s.
   */
  private checkStress(): void {
    const { maxproc, endpoint, entry, log } = this.opts;
    if (endpoint.localOnly !== false || maxproc <= 1) return;
    const clients = this.live().reduce((n, p) => n + p.clients, 0) + this.pending.filter((s) => !s.destroyed).length;
    if (clients < maxproc) return;
    const now = Date.now();
    if (now - this.busyWarned > STRESS_TIME) {
      this.busyWarned = now;
      log.warn(`service "${entry.name}" (${endpoint.label}) has reached its process limit "${maxproc}": new clients may experience noticeable delays`);
      log.warn('to avoid this condition, increase the process count in master.cf or reduce the service time per client');
      log.warn('see http://www.postfix.org/STRESS_README.html for examples of stress-adapting configuration settings');
    }
    const entering = this.stressUntil < now;
    this.stressUntil = now + STRESS_TIME;
    if (entering) this.retire();
  }

  /** Whether new processes run in stress mode. */
  get stressed(): boolean {
    return this.stressUntil > Date.now();
  }

  /** A fifo write or a wakeup: to one process, starting one if needed. */
  trigger(data: string): void {
    this.used = true;
    this.pendingTriggers.push(data);
    this.dispatch();
  }

  private wakeup(): void {
    if (this.opts.entry.wakeupIfUsed && !this.used) return;
    // Postfix's master writes the wakeup request to the service like any client would.
    if (this.pendingTriggers.length === 0) this.pendingTriggers.push('W');
    this.dispatch();
  }

  private live(): Proc[] {
    return [...this.procs].filter((p) => !p.leaving);
  }

  private available(): Proc[] {
    return this.live().filter((p) => p.ready && !p.retiring);
  }

  private canSpawn(): boolean {
    if (this.stopped || Date.now() < this.throttledUntil) return false;
    const max = this.opts.maxproc;
    return max === 0 || this.procs.size + this.spawning < max;
  }

  private dispatch(): void {
    const ready = this.available();
    if (ready.length === 0) {
      // on demand: a client or a trigger waits (not after an idle process left)
      const waiting = this.pending.some((s) => !s.destroyed) || this.pendingTriggers.length > 0;
      if (waiting && this.spawning === 0 && this.canSpawn()) this.spawn();
      return;
    }
    while (this.pending.length > 0) {
      const socket = this.pending.shift()!;
      if (socket.destroyed) continue;
      const p = ready.reduce((a, b) => (b.clients < a.clients ? b : a));
      p.clients++;
      p.served = true;
      this.send(p, { t: 'conn' }, socket);
    }
    while (this.pendingTriggers.length > 0) {
      const data = this.pendingTriggers.shift()!;
      ready[0]!.served = true;
      this.send(ready[0]!, { t: 'trigger', data });
    }
    this.considerMore();
  }

  /** Every running process saturated and room under maxproc: start one more. */
  private considerMore(): void {
    const ready = this.available();
    if (ready.length === 0 || this.spawning > 0 || !this.canSpawn()) return;
    const saturated = ready.every((p) => p.elu >= SATURATED_ELU && p.clients > 0);
    const { spareCores } = this.opts;
    if (saturated && (spareCores <= 0 || idleCores() >= spareCores)) this.spawn();
  }

  private send(p: Proc, msg: ToChild, handle?: Socket | SocketHandle): void {
    // A connection (passed or relayed) goes with keepOpen: master closes its
    // own descriptor once the write is done (the one in flight lives on in the
    // kernel until the process reads it), or when the process dies first. Node
    // itself keeps the last descriptor it moved until the process acknowledges
    // it, queues the ones after it, and when the process dies closes neither
    // nor calls their callbacks: the clients would wait on master for ever.
    const socket = handle && (msg.t === 'conn' || msg.t === 'relay') ? (handle as Socket) : undefined;
    const done = () => {
      if (!socket) return;
      p.handing.delete(socket);
      socket.destroy();
    };
    if (socket) p.handing.add(socket);
    try {
      if (handle) p.child.send(msg, handle as never, { keepOpen: socket !== undefined }, done);
      else p.child.send(msg, undefined, undefined, () => undefined);
    } catch {
      // the process is gone; its exit handler re-dispatches the rest
      done();
    }
  }

  private spawn(): void {
    const { spec, log } = this.opts;
    this.spawning++;
    let child: ChildProcess;
    try {
      const stressed = this.stressed ? { ...spec, entry: { ...spec.entry, overrides: { ...spec.entry.overrides, stress: 'yes' } } } : spec;
      child =
        this.opts.spares?.take(stressed, this.opts.execArgv) ??
        fork(CHILD_MAIN, [this.opts.entry.command], {
        env: { ...process.env, [CHILD_ENV]: JSON.stringify(stressed) },
        execArgv: [...process.execArgv, ...this.opts.execArgv],
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        serialization: 'json',
        // an unprivileged service starts as root and drops to mail_owner itself (spec.dropTo)
      });
    } catch (err) {
      this.spawning--;
      log.warn(`${this.opts.daemonPath}: cannot start: ${(err as Error).message}`);
      this.throttle();
      return;
    }
    const p: Proc = { child, pid: child.pid ?? 0, started: Date.now(), ready: false, retiring: false, leaving: false, clients: 0, elu: 0, listening: false, served: false, handing: new Set() };
    this.procs.add(p);
    child.on('message', (msg: ToMaster, handle?: unknown) => this.onMessage(p, msg, handle));
    child.on('error', (err) => log.warn(`process ${this.opts.daemonPath} pid ${p.pid}: ${err.message}`));
    child.on('exit', (code, signal) => this.onExit(p, code, signal));
  }

  private onMessage(p: Proc, msg: ToMaster, handle: unknown): void {
    switch (msg.t) {
      case 'ready':
        p.ready = true;
        this.spawning--;
        this.opts.endpoint.sockets.forEach((sock, index) => {
          const handle = sock.handle;
          if (handle) this.send(p, { t: 'listen', index, lend: sock.wantsSpare }, handle);
        });
        p.listening = this.opts.endpoint.sockets.length > 0;
        this.dispatch();
        return;
      case 'lent':
        if (handle) this.opts.endpoint.sockets[msg.index]?.keepSpare(handle as SocketHandle);
        this.watchSockets();
        return;
      case 'load':
        p.clients = msg.clients;
        if (msg.clients > 0) p.served = true;
        p.elu = msg.elu;
        if (Date.now() - p.started > STABLE_AFTER) this.failures = 0;
        this.checkStress();
        this.considerMore();
        return;
      case 'bye':
        p.leaving = true;
        p.listening = false;
        this.watchSockets();
        // a process that served max_use clients is replaced before it has gone
        if (msg.reason === 'max_use' && this.available().length === 0 && this.spawning === 0 && this.canSpawn()) this.spawn();
        this.dispatch();
        return;
      case 'pass':
        if (handle) this.opts.onPass?.(msg.service, handle as Socket);
        return;
      case 'relay':
        this.opts.onRelay?.(p.pid, msg.to, msg.data, handle);
        return;
      case 'fatal':
        // a process that died before it could log: its line, under its own name and pid (Postfix's msg_fatal)
        (this.opts.program ? this.opts.log.child(this.opts.program, p.pid) : this.opts.log).fatal(msg.text);
        return;
    }
  }

  /** Gives process `pid` of this service a relayed message; false when it has no such process. */
  relayTo(pid: number, from: number, data: unknown, handle: unknown): boolean {
    const p = [...this.procs].find((x) => x.pid === pid && x.ready);
    if (!p) return false;
    this.send(p, { t: 'relay', from, data }, handle as Socket | undefined);
    return true;
  }

  /** master accepts on the sockets only while no process listens on them. */
  private watchSockets(): void {
    const held = [...this.procs].some((p) => p.listening && !p.leaving && !p.retiring);
    for (const sock of this.opts.endpoint.sockets) sock.watch(!held);
  }

  private onExit(p: Proc, code: number | null, signal: NodeJS.Signals | null): void {
    this.procs.delete(p);
    for (const socket of p.handing) socket.destroy();
    p.handing.clear();
    this.watchSockets();
    if (p.killTimer) clearTimeout(p.killTimer);
    if (!p.ready) this.spawning--;
    const expected = p.leaving || p.retiring || this.stopped;
    if (!expected) {
      const how = signal ? `killed by signal ${signal}` : `exit status ${code}`;
      this.opts.log.warn(`process ${this.opts.daemonPath} pid ${p.pid} ${how}`);
      // killed from outside (kill -9, the OOM killer, an operator): not a failure of the program
      // to start, even during its start-up (a Node process takes a while to be ready)
      const external = signal !== null && EXTERNAL_SIGNALS.has(signal);
      if (!external && (!p.ready || (!p.served && !signal))) {
        this.opts.log.warn(`${this.opts.daemonPath}: bad command startup -- throttling`);
        this.throttle();
      } else {
        // it served: replace it at once (a kill -9 is no reason to wait)
        this.failures = 0;
        this.throttledUntil = 0;
      }
      // A daemon with a wakeup timer (qmgr, pickup) is needed even without clients.
      if (this.opts.entry.wakeup > 0 && this.pendingTriggers.length === 0) this.pendingTriggers.push('W');
    }
    if (!this.stopped) this.dispatch();
  }

  /** Back-off after a failure: 1 s, 2 s, 4 s ... up to service_throttle_time. */
  private throttle(): void {
    this.failures++;
    const delay = Math.min(1000 * 2 ** (this.failures - 1), this.opts.throttleTime);
    this.throttledUntil = Date.now() + delay;
    clearTimeout(this.throttleTimer);
    this.throttleTimer = setTimeout(() => this.dispatch(), delay + 10);
    this.throttleTimer.unref();
  }

  /** reload: running processes finish what they do and leave; new work goes to new processes. */
  retire(): void {
    for (const p of this.procs) {
      if (p.retiring) continue;
      p.retiring = true;
      this.send(p, { t: 'stop', graceful: true });
      this.armKill(p, STOP_DEADLINE * 6);
    }
    this.watchSockets();
  }

  /** No new processes, no more wakeups: the first step of stopping. */
  halt(): void {
    this.stopped = true;
    clearInterval(this.wakeupTimer);
    clearTimeout(this.throttleTimer);
    for (const s of this.pending.splice(0)) s.destroy();
    this.pendingTriggers.length = 0;
  }

  /** stop: close down; graceful lets sessions finish (up to a deadline). */
  async stop(graceful: boolean): Promise<void> {
    this.halt();
    const exits = [...this.procs].map((p) => new Promise<void>((resolve) => p.child.once('exit', () => resolve())));
    for (const p of this.procs) {
      p.retiring = true;
      this.send(p, { t: 'stop', graceful });
      this.armKill(p, graceful ? STOP_DEADLINE : 1000);
    }
    await Promise.all(exits);
  }

  private armKill(p: Proc, ms: number): void {
    if (p.killTimer) clearTimeout(p.killTimer);
    p.killTimer = setTimeout(() => p.child.kill('SIGKILL'), ms);
    p.killTimer.unref();
  }

  status(): ServiceStatus {
    return {
      service: this.key,
      endpoint: this.opts.endpoint.label,
      processes: [...this.procs].map((p) => ({ pid: p.pid, clients: p.clients, ready: p.ready, retiring: p.retiring })),
      maxproc: this.opts.maxproc,
      throttled: Date.now() < this.throttledUntil,
      pending: this.pending.length,
    };
  }

  get endpoint(): Endpoint {
    return this.opts.endpoint;
  }
}

export function daemonPath(pluginDir: string, command: string): string {
  return join(pluginDir, command);
}
