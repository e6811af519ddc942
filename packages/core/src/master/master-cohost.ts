/**
 * Services a process runs inside itself for its own calls (Postern's
 * `in_process_services`, set with -o on one master.cf service): for example
 * smtpd with `-o in_process_services=rewrite,cleanup` submits to a cleanup
 * and resolves through a trivial-rewrite that live in its own process, so a
 * call is a method call, not a round trip over a unix socket, and no process
 * of theirs is needed for smtpd's mail. Each is built as its own process
 * would build it: the view of its own master.cf entry (its -o overrides),
 * its own logger name, its tables opened before the privilege drop, its
 * preInit. It serves no endpoint; its own master.cf processes still serve
 * everybody else. The trade-off is Postfix's failure isolation: a fault in
 * cleanup now ends the smtpd process and its sessions with it.
 */
import type { DependencyContainer } from 'tsyringe';
import type { MasterEntry, ServiceInstance, ServiceMain } from '../contracts/service.js';
import { posternError, type PosternError } from '../errors.js';
import type { PluginDefinition } from '../plugin/manifest.js';
import type { PluginSet } from '../plugin/loader.js';
import type { Configuration } from './master-config.js';
import { CONTRACT_BINDINGS, bindContracts } from '../service/bindings.js';
import { createServiceHost, type ServiceHost } from '../service/host.js';
import type { ChildSpec } from './master-proto.js';
import { openPrivileged, tableParameters } from './master-privs.js';
import { processLogger, type ProcessRuntime } from './runtime.js';

interface Prepared {
  readonly name: string;
  readonly main: ServiceMain;
  readonly host: ServiceHost;
}

export interface CoHosted {
  /** The services' main()s, in order; returns the contracts they serve, by name. */
  start(): Promise<Readonly<Record<string, unknown>>>;
  stop(graceful: boolean): Promise<void>;
}

/**
 * Builds the services `names` lists for the process of `entry`, up to their
 * preInit (call before the privilege drop); start() runs their main()s.
 * Each later one, and the process's own service, calls the earlier ones
 * in-process.
 */
export async function prepareCoHosted(runtime: ProcessRuntime, spec: ChildSpec, entry: MasterEntry, names: readonly string[]): Promise<CoHosted> {
  const prepared: Prepared[] = [];
  for (const name of names) {
    const found = coHostTarget(runtime.configuration, runtime.plugins, entry, name);
    if ('error' in found) throw found.error;
    const { own, def } = found;
    const { main, preInit } = await def.commands[own.command]!.load();
    const config = runtime.configuration.view(own);
    const log = processLogger(config, own.command, { file: spec.logFile, verbose: spec.verbose || own.flags.includes('-v') });
    const host = createServiceHost({ entry: own, config, log, container: runtime.container, uses: [...(def.uses ?? []), ...(def.mayUse ?? [])] });
    if (spec.dropTo) await openPrivileged(host.ctx.container, config, tableParameters(def.parameters), log);
    await preInit?.(host.ctx);
    prepared.push({ name, main, host });
  }
  const instances: ServiceInstance[] = [];
  return {
    async start() {
      const local: Record<string, unknown> = {};
      for (const p of prepared) {
        bind(p.host.ctx.container, local);
        const instance = await p.main(p.host.ctx);
        if (instance) instances.push(instance);
        Object.assign(local, instance?.provides ?? {});
      }
      return local;
    },
    async stop(graceful) {
      for (const p of prepared) p.host.finish(graceful ? 'stop' : 'abort');
      for (const i of instances.splice(0).reverse()) await i.stop(graceful);
    },
  };
}

/** The master.cf entry and the package of `name`, or why `entry` cannot run it in-process. */
export function coHostTarget(
  configuration: Configuration,
  plugins: PluginSet,
  entry: MasterEntry,
  name: string,
): { readonly own: MasterEntry; readonly def: PluginDefinition } | { readonly error: PosternError } {
  const bad = (why: string) => ({ error: posternError('POSTERN_ERR_COHOST', entry.name, name, why) });
  if (name === entry.name) return bad('the service itself');
  const own = configuration.entries.find((e) => e.name === name && e.type === 'unix') ?? configuration.entries.find((e) => e.name === name);
  if (!own) return bad('no such master.cf service');
  const provider = plugins.commands.get(own.command);
  if (!provider) return bad(`no installed package provides command "${own.command}"`);
  if (!(provider.definition.provides ?? []).some((c) => c in CONTRACT_BINDINGS)) return bad(`${provider.name} serves no contract another service calls`);
  return { own, def: provider.definition };
}

/** What `postern check` says of every in_process_services setting. */
export function coHostProblems(configuration: Configuration, plugins: PluginSet): string[] {
  const out: string[] = [];
  for (const e of configuration.entries) {
    for (const name of configuration.view(e).list('in_process_services')) {
      const found = coHostTarget(configuration, plugins, e, name);
      if ('error' in found) out.push(found.error.message);
    }
  }
  return out;
}

/** Binds the contracts in `local` in `container`, ahead of the clients its parent has. */
export function bind(container: DependencyContainer, local: Readonly<Record<string, unknown>>): void {
  bindContracts(container, Object.keys(local), local);
}
