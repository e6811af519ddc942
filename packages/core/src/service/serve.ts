/**
 * The server side of the contracts: a plugin that provides a contract hands
 * its implementation to one of these, and master's connections to the
 * service's endpoint are served with it (Postfix's multi_server skeleton).
 */
import type { ServiceContext, ServiceInstance } from '../contracts/service.js';
import type { CleanupRequest, CleanupService } from '../contracts/cleanup.js';
import type { RewriteService } from '../contracts/rewrite.js';
import type { BounceService } from '../contracts/bounce.js';
import type { DeliveryService } from '../contracts/delivery.js';
import { IpcServer, type Handlers } from '../ipc/server.js';
import { acceptTriggers } from '../ipc/trigger.js';
import { METHOD } from './clients.js';
import { SERVICE } from '../protocol/services.js';

/** Serves `handlers` on the service's endpoint; stop() waits for calls in progress. */
export function serveIpc(
  ctx: ServiceContext,
  handlers: Handlers,
  provides?: Readonly<Record<string, unknown>>,
): ServiceInstance & { server: IpcServer } {
  const server = new IpcServer(ctx.entry.name, handlers, ctx.log);
  ctx.onConnection((socket) => server.accept(socket));
  return {
    server,
    provides,
    async stop(graceful: boolean) {
      while (graceful && server.activeCalls > 0) await new Promise((r) => setTimeout(r, 50));
    },
  };
}

/** Trigger server (Postfix's trigger_server): each byte written to the endpoint, and master's wakeups. */
export function serveTriggers(ctx: ServiceContext, handler: (data: Buffer) => void): void {
  ctx.onConnection((socket) => acceptTriggers(socket, handler));
  ctx.onTrigger(handler);
}

export function serveCleanup(ctx: ServiceContext, impl: CleanupService) {
  return serveIpc(ctx, {
    [METHOD.CLEANUP_SUBMIT]: (request: CleanupRequest, call) =>
      impl.submit(request, call.body, (queueId) => void call.emit({ queueId })),
  }, { [SERVICE.CLEANUP]: impl });
}

export function serveRewrite(ctx: ServiceContext, impl: RewriteService) {
  return serveIpc(ctx, {
    [METHOD.REWRITE]: (a: { context: 'local' | 'remote'; address: string }) => impl.rewrite(a.context, a.address),
    [METHOD.RESOLVE]: (a: { address: string; sender?: string }) => impl.resolve(a.address, a.sender),
  }, { [SERVICE.REWRITE]: impl });
}

export function serveBounce(ctx: ServiceContext, impl: BounceService) {
  return serveIpc(ctx, {
    [METHOD.BOUNCE_APPEND]: (a) => impl.append(a.log, a.queueId, a.record),
    [METHOD.BOUNCE_NOTIFY]: (a) => impl.notify(a.kind, a.queueId),
  }, { [SERVICE.BOUNCE]: impl });
}

export function serveDelivery(ctx: ServiceContext, impl: DeliveryService) {
  return serveIpc(ctx, { [METHOD.DELIVER]: (request) => impl.deliver(request) });
}
