/**
 * The process side of a master.cf service (Postfix's single/multi/trigger
 * server skeletons): master forks this file for every service process. It
 * reads main.cf itself (so a reload takes effect in new processes), applies the
 * entry's -o overrides, builds the process's container, loads the plugin's
 * service entry and feeds it the connections and triggers master passes.
 *
 * An unprivileged service of a root master starts as root: it reads its
 * configuration, opens the tables its package's parameters name and the
 * queue store, then drops to mail_owner before it serves anything
 * (master-privs.ts).
 *
 * A spare process (master-spare.ts) loads the plugins first and is told its
 * service afterwards.
 *
 * It reports its load to master, leaves after max_idle seconds without
 * clients or after max_use connections (not for long-running daemons), and
 * leaves when master does.
 */
import 'reflect-metadata';
import { performance } from 'node:perf_hooks';
import { createServer, type Server, type Socket } from 'node:net';
import { pathToFileURL } from 'node:url';
import type { ServiceInstance } from '../contracts/service.js';
import type { PluginDefinition } from '../plugin/manifest.js';
import { flushLogs } from '../log/logger.js';
import { createServiceHost } from '../service/host.js';
import { dispatchRelay, setPassSender, setRelaySender } from '../service/relay.js';
import { loadServiceRuntime } from './runtime.js';
import { dropPrivileges, openPrivileged, tableParameters } from './master-privs.js';
import { CHILD_ENV, type ChildSpec, type ToChild, type ToMaster } from './master-proto.js';
import { SPARE_ENV, waitAsSpare } from './master-spare.js';

const LOAD_INTERVAL = 1000;
/** How long sessions in progress may take to finish once master has gone (ms). */
const MASTER_GONE_DEADLINE = 10_000;

function tell(msg: ToMaster, handle?: unknown): void {
  // master may be gone by now: a failed send is no error (its 'disconnect' handler acts)
  if (process.connected) process.send!(msg, handle as never, undefined, () => undefined);
}

async function childMain(): Promise<void> {
  const spare = process.env[SPARE_ENV];
  delete process.env[SPARE_ENV];
  // a spare (master-spare.ts) learns its service from master once it has loaded the plugins
  const spec = spare && process.send ? await waitAsSpare(JSON.parse(spare) as string[], tell) : (JSON.parse(process.env[CHILD_ENV] ?? 'null') as ChildSpec | null);
  if (!spec || !process.send) {
    process.stderr.write('postern: this program is started by the postern master process\n');
    process.exit(1);
  }
  delete process.env[CHILD_ENV];
  const { entry } = spec;
  const runtime = await loadServiceRuntime(spec);
  const { config, log, container } = runtime;
  process.title = `postern/${entry.command} -n ${entry.name} -t ${entry.type}`;

  const fail = (what: string, err: unknown) => {
    log.fatal(`${what}: ${err instanceof Error ? err.message : String(err)}`);
    void flushLogs().finally(() => process.exit(1));
  };
  process.on('uncaughtException', (err) => fail('uncaught exception', err));
  process.on('unhandledRejection', (err) => fail('unhandled rejection', err));

  // before the service starts, so it can relay from the first moment
  setRelaySender((to, data, handle) => {
    if (!process.connected) return false;
    tell({ t: 'relay', to, data }, handle);
    return true;
  });
  setPassSender((service, socket) => {
    if (!process.connected) return false;
    tell({ t: 'pass', service }, socket);
    return true;
  });
  const host = createServiceHost({ entry, config, log, container });
  const plugin = ((await import(pathToFileURL(spec.pluginEntry).href)) as { plugin: PluginDefinition }).plugin;
  const command = plugin.commands[entry.command];
  if (!command) throw new Error(`${spec.pluginName} does not provide command ${entry.command}`);
  const { main, preInit } = await command.load();
  // Postfix's pre_init, then set_ugid: tables, queue and the service's own
  // privileged reads as root, then mail_owner
  if (spec.dropTo) {
    const opened = await openPrivileged(container, config, tableParameters(plugin.parameters), log);
    if (opened.length > 0) log.debug(`opened before the privilege drop: ${opened.join(' ')}`);
  }
  await preInit?.(host.ctx);
  if (spec.dropTo) dropPrivileges(spec.dropTo);

  const servers: Server[] = [];
  let leaving = false;
  let instance: ServiceInstance | void;

  const leave = async (reason: string, graceful: boolean) => {
    if (leaving) return;
    leaving = true;
    tell({ t: 'bye', reason });
    host.finish(reason);
    for (const s of servers) s.close();
    try {
      if (instance) await instance.stop(graceful);
      while (graceful && host.clients > 0) await new Promise((r) => setTimeout(r, 50));
    } catch (err) {
      log.warn(`stop: ${(err as Error).message}`);
    }
    await runtime.close();
    await flushLogs();
    process.exit(0);
  };

  const maxUse = spec.longRunning ? 0 : config.int('max_use');
  const maxIdle = spec.longRunning ? 0 : config.time('max_idle') * 1000;
  let idleTimer: NodeJS.Timeout | undefined;
  const armIdle = () => {
    clearTimeout(idleTimer);
    if (maxIdle > 0 && host.clients === 0 && !leaving) {
      idleTimer = setTimeout(() => void leave('max_idle', true), maxIdle);
      idleTimer.unref();
    }
  };

  let elu = performance.eventLoopUtilization();
  let reportTimer: NodeJS.Timeout | undefined;
  const report = () => {
    reportTimer = undefined;
    const now = performance.eventLoopUtilization();
    const delta = performance.eventLoopUtilization(now, elu);
    elu = now;
    tell({ t: 'load', clients: host.clients, elu: Number(delta.utilization.toFixed(3)) });
    if (host.clients > 0) scheduleReport();
  };
  const scheduleReport = () => {
    if (!reportTimer) {
      reportTimer = setTimeout(report, LOAD_INTERVAL);
      reportTimer.unref();
    }
  };
  host.onLoad((clients) => {
    scheduleReport();
    if (clients === 0) armIdle();
    else clearTimeout(idleTimer);
    if (maxUse > 0 && host.served >= maxUse) void leave('max_use', true);
  });

  process.on('message', (msg: ToChild, handle: unknown) => {
    switch (msg.t) {
      case 'listen': {
        if (!handle) return;
        if (leaving) {
          (handle as { close(): void }).close();
          return;
        }
        const server = createServer();
        server.listen(handle as never, () => {
          // master keeps a descriptor of the socket it does not watch (see master-listen)
          if (msg.lend) tell({ t: 'lent', index: msg.index }, (server as unknown as { _handle: unknown })._handle);
        });
        servers.push(server);
        server.on('connection', (socket: Socket) => host.connection(socket));
        server.on('error', (err) => log.warn(`accept: ${err.message}`));
        return;
      }
      case 'conn': {
        const socket = handle as Socket | undefined;
        if (!socket) return;
        // the connection stays paused (master accepted it with pauseOnConnect)
        // until the service reads it: nothing arrives before its handler does
        host.connection(socket);
        return;
      }
      case 'trigger':
        host.trigger(Buffer.from(msg.data, 'latin1'));
        return;
      case 'relay':
        dispatchRelay(msg.from, msg.data, handle);
        return;
      case 'stop':
        void leave(msg.graceful ? 'stop' : 'abort', msg.graceful);
        return;
    }
  });
  // master went away: so do we (Postfix daemons exit when the master status pipe closes).
  // As Postfix's single-threaded servers, a service that serves clients (not a
  // long-running or wakeup-driven daemon, whose successor must not overlap it)
  // finishes the sessions in progress first, up to a deadline: a restarted
  // master takes new clients meanwhile.
  const masterGone = () => {
    const finish = !spec.longRunning && entry.wakeup === 0;
    if (finish) setTimeout(() => process.exit(0), MASTER_GONE_DEADLINE).unref();
    void leave('master exited', finish);
  };
  process.on('disconnect', masterGone);
  // master died while this process was starting: the event has been and gone
  if (!process.connected) masterGone();
  process.on('SIGTERM', () => void leave('SIGTERM', false));

  instance = await main(host.ctx);
  tell({ t: 'ready' });
  armIdle();
}

childMain().catch(async (err: unknown) => {
  const text = err instanceof Error ? err.message : String(err);
  tell({ t: 'fatal', text });
  process.stderr.write(`postern: fatal: ${text}\n`);
  await flushLogs().catch(() => undefined);
  process.exit(1);
});
