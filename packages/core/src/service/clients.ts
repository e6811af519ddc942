/**
 * Clients of the internal services, as the contracts' remote side: each call
 * crosses a unix socket under queue_directory/public or queue_directory/private
 * (Postfix's mail_connect()). One multiplexed connection per service per
 * container (a service process has one container).
 */
import { join } from 'node:path';
import type { ConfigView } from '../contracts/config.js';
import type { CleanupRequest, CleanupResult, CleanupService } from '../contracts/cleanup.js';
import type { RewriteContext, ResolveResult, RewriteService } from '../contracts/rewrite.js';
import type { BounceService, NoticeKind, NoticeResult } from '../contracts/bounce.js';
import type { DeliveryLogRecord } from '../contracts/queue.js';
import type { DeliveryRequest, DeliveryResponse, DeliveryService } from '../contracts/delivery.js';
import type { DeliveryLogName } from '../protocol/queues.js';
import { SERVICE, serviceClass, type MailClass } from '../protocol/services.js';
import { IpcClient } from '../ipc/client.js';
import { TriggerClient } from '../ipc/trigger.js';
import { token } from '../contracts/token.js';

export { METHOD } from '../contracts/methods.js';
import { METHOD } from '../contracts/methods.js';

/** The socket path of `service` in `cls` (default: the class Postfix clients assume). */
export function servicePath(config: ConfigView, service: string, cls: MailClass = serviceClass(service)): string {
  return join(config.get('queue_directory'), cls, service);
}

/**
 * The client connections of one dependency container: one multiplexed
 * connection per service, opened at the first call. The container owns it
 * (registered as SERVICE_CLIENTS); closing the container closes them.
 */
export class ServiceClients {
  private readonly clients = new Map<string, IpcClient>();
  private readonly triggers = new Map<string, TriggerClient>();

  constructor(readonly config: ConfigView) {}

  /** The client of `service` (one multiplexed connection). */
  client(service: string, cls?: MailClass): IpcClient {
    const path = servicePath(this.config, service, cls);
    let client = this.clients.get(path);
    if (!client) {
      client = new IpcClient(service, path, {
        timeout: this.config.time('ipc_timeout') * 1000,
        idle: this.config.time('ipc_idle') * 1000,
      });
      this.clients.set(path, client);
    }
    return client;
  }

  /** The kept-open trigger connection to `service` (qmgr, pickup, flush ...). */
  trigger(service: string, cls?: MailClass): TriggerClient {
    const path = servicePath(this.config, service, cls);
    let t = this.triggers.get(path);
    if (!t) this.triggers.set(path, (t = new TriggerClient(service, path)));
    return t;
  }

  /** Connections opened so far (a contract bound in-process opens none). */
  get opened(): number {
    return this.clients.size + this.triggers.size;
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
    for (const t of this.triggers.values()) t.close();
    this.clients.clear();
    this.triggers.clear();
  }
}

export const SERVICE_CLIENTS = token<ServiceClients>('ServiceClients');

export class RemoteCleanup implements CleanupService {
  constructor(private readonly client: IpcClient) {}
  submit(request: CleanupRequest, content: AsyncIterable<Buffer>, onQueueId?: (id: string) => void): Promise<CleanupResult> {
    return this.client.call<CleanupResult>(METHOD.CLEANUP_SUBMIT, request, {
      body: content,
      onEvent: (e: { queueId?: string }) => e.queueId && onQueueId?.(e.queueId),
    });
  }
}

/**
 * trivial-rewrite's client, with a bounded cache of recent answers (Postfix's
 * rewrite_clnt and resolve_clnt cache too): the same sender and recipient
 * domains come back on every message. Answers from a failed table lookup are
 * not kept.
 */
export class RemoteRewrite implements RewriteService {
  private readonly cache = new Map<string, { readonly until: number; readonly value: Promise<unknown> }>();

  constructor(
    private readonly client: IpcClient,
    private readonly limit = 10_000,
    private readonly ttl = 60_000,
  ) {}

  private cached<T>(key: string, fetch: () => Promise<T>, keep: (value: T) => boolean): Promise<T> {
    const now = Date.now();
    const hit = this.cache.get(key);
    if (hit && hit.until > now) return hit.value as Promise<T>;
    const value = fetch();
    this.cache.set(key, { until: now + this.ttl, value });
    if (this.cache.size > this.limit) this.cache.delete(this.cache.keys().next().value!);
    value.then(
      (v) => keep(v) || this.cache.delete(key),
      () => this.cache.delete(key),
    );
    return value;
  }

  rewrite(context: RewriteContext, address: string): Promise<string> {
    return this.cached(`${context}\0${address}`, () => this.client.call<string>(METHOD.REWRITE, { context, address }, { idempotent: true }), () => true);
  }

  resolve(address: string, sender?: string): Promise<ResolveResult> {
    return this.cached(
      `resolve\0${address}\0${sender ?? ''}`,
      () => this.client.call<ResolveResult>(METHOD.RESOLVE, { address, sender }, { idempotent: true }),
      (r) => !r.flags.includes('fail'),
    );
  }
}

export class RemoteBounce implements BounceService {
  constructor(private readonly client: IpcClient) {}
  append(log: DeliveryLogName, queueId: string, record: DeliveryLogRecord): Promise<void> {
    return this.client.call<void>(METHOD.BOUNCE_APPEND, { log, queueId, record });
  }
  notify(kind: NoticeKind, queueId: string): Promise<NoticeResult> {
    return this.client.call<NoticeResult>(METHOD.BOUNCE_NOTIFY, { kind, queueId });
  }
}

/** A delivery transport (master.cf service name such as smtp, relay, local) as qmgr calls it. */
export class RemoteDelivery implements DeliveryService {
  constructor(private readonly client: IpcClient) {}
  deliver(request: DeliveryRequest): Promise<DeliveryResponse> {
    return this.client.call<DeliveryResponse>(METHOD.DELIVER, request);
  }
}

export const cleanupClient = (clients: ServiceClients): CleanupService => new RemoteCleanup(clients.client(SERVICE.CLEANUP));
export const rewriteClient = (clients: ServiceClients): RewriteService => new RemoteRewrite(clients.client(SERVICE.REWRITE));
export const bounceClient = (clients: ServiceClients): BounceService => new RemoteBounce(clients.client(SERVICE.BOUNCE));
export const deliveryClient = (clients: ServiceClients, transport: string): DeliveryService =>
  new RemoteDelivery(clients.client(transport, 'private'));
