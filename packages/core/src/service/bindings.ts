/**
 * How a contract is bound in a container: to the local implementation when
 * the service that provides it runs in the same process, otherwise to the
 * IPC client of that service. The service runtime binds every contract a
 * plugin's manifest `uses` (and `mayUse`) this way; the clients belong to the
 * container's {@link ServiceClients} and close with it.
 */
import type { DependencyContainer } from 'tsyringe';
import { provide, provideLazy, type Token } from '../contracts/token.js';
import { CLEANUP } from '../contracts/cleanup.js';
import { REWRITE } from '../contracts/rewrite.js';
import { BOUNCE } from '../contracts/bounce.js';
import { ANVIL, anvilClient } from '../contracts/anvil.js';
import { FLUSH, flushClient } from '../contracts/flush.js';
import { SHOWQ, showqClient } from '../contracts/showq.js';
import { VERIFY, verifyClient } from '../contracts/verify.js';
import { DNSBLOG, dnsblogClient } from '../contracts/dnsblog.js';
import { QMGR_TRIGGER } from '../contracts/trigger.js';
import { SERVICE } from '../protocol/services.js';
import { bounceClient, cleanupClient, rewriteClient, SERVICE_CLIENTS, type ServiceClients } from './clients.js';

export interface ContractBinding<T = unknown> {
  readonly token: Token<T>;
  /** The contract's client, over the container's connections. */
  readonly remote: (clients: ServiceClients) => T;
}

const bind = <T>(tok: Token<T>, remote: (clients: ServiceClients) => T): ContractBinding => ({ token: tok, remote }) as ContractBinding;

/** Contract name (the providing service's name, protocol/services.ts) -> token and client. */
export const CONTRACT_BINDINGS: Readonly<Record<string, ContractBinding>> = {
  [SERVICE.CLEANUP]: bind(CLEANUP, cleanupClient),
  [SERVICE.REWRITE]: bind(REWRITE, rewriteClient),
  [SERVICE.BOUNCE]: bind(BOUNCE, bounceClient),
  [SERVICE.ANVIL]: bind(ANVIL, anvilClient),
  [SERVICE.FLUSH]: bind(FLUSH, flushClient),
  [SERVICE.SHOWQ]: bind(SHOWQ, showqClient),
  [SERVICE.VERIFY]: bind(VERIFY, verifyClient),
  [SERVICE.DNSBLOG]: bind(DNSBLOG, dnsblogClient),
  [SERVICE.QMGR]: bind(QMGR_TRIGGER, (c) => c.trigger(SERVICE.QMGR)),
};

/** The container's connections, registered on first use. */
export function serviceClients(container: DependencyContainer): ServiceClients {
  return container.resolve(SERVICE_CLIENTS);
}

/**
 * Binds each of `contracts` in `container`: to `local[name]` when given (the
 * providing service runs in this process: a call is a method call, no socket),
 * else lazily to the client of the providing service, unless a parent
 * container has it already (a test's fake, an embedder's object). Names without a binding
 * (delivery transports, contracts a plugin serves only) are skipped.
 */
export function bindContracts(
  container: DependencyContainer,
  contracts: Iterable<string>,
  local: Readonly<Record<string, unknown>> = {},
): void {
  for (const name of contracts) {
    const b = CONTRACT_BINDINGS[name];
    if (!b) continue;
    if (name in local) provide(container, b.token, local[name]);
    else if (!container.isRegistered(b.token, true)) provideLazy(container, b.token, () => b.remote(serviceClients(container)));
  }
}
