/**
 * dnsblog(8) as a contract: the DNS allow/denylist lookup service that
 * postscreen(8) asks (dnsblog.c, postscreen_dnsbl.c). One request names a
 * DNSBL/DNSWL domain, a client address and the caller's request id; the
 * answer repeats them with the A records found under the reversed address
 * (space separated, empty when the address is not listed) and the reply's
 * time to live (-1 when unknown, e.g. no reply at all).
 *
 * The remote stub never throws: an unreachable dnsblog answers "not listed"
 * with ttl -1, as postscreen treats a lost dnsblog reply.
 */
import type { ServiceContext, ServiceInstance } from './service.js';
import { token } from './token.js';
import { SERVICE } from '../protocol/services.js';
import type { ServiceClients } from '../service/clients.js';
import { serveIpc } from '../service/serve.js';
import type { IpcClient } from '../ipc/client.js';
import type { IpcServer } from '../ipc/server.js';

/** The attributes of Postfix's dnsblog protocol, as plain data. */
export interface DnsblogReply {
  /** rbl_domain: the DNSBL domain asked. */
  readonly domain: string;
  /** act_client_addr: the client address asked. */
  readonly address: string;
  /** label: the request id the caller gave. */
  readonly id: number;
  /** rbl_addr: the A records found, space separated; "" when not listed. */
  readonly result: string;
  /** ttl: the reply's time to live in seconds; -1 when unknown. */
  readonly ttl: number;
}

export interface DnsblogService {
  query(domain: string, address: string, id: number): Promise<DnsblogReply>;
}

export const DNSBLOG = token<DnsblogService>('DnsblogService');

export const DNSBLOG_METHOD = { QUERY: 'query' } as const;

export class RemoteDnsblog implements DnsblogService {
  constructor(private readonly client: IpcClient) {}
  async query(domain: string, address: string, id: number): Promise<DnsblogReply> {
    try {
      const r = await this.client.call<DnsblogReply>(DNSBLOG_METHOD.QUERY, { domain, address, id });
      if (r && typeof r.result === 'string' && typeof r.ttl === 'number') return { domain, address, id, result: r.result, ttl: r.ttl };
    } catch {
      // not listed, below
    }
    return { domain, address, id, result: '', ttl: -1 };
  }
}

/** dnsblog's remote stub, over private/$dnsblog_service_name. */
export const dnsblogClient = (clients: ServiceClients): DnsblogService =>
  new RemoteDnsblog(clients.client(clients.config.get('dnsblog_service_name') || SERVICE.DNSBLOG));

/** Serves `impl` on the dnsblog endpoint. */
export function serveDnsblog(ctx: ServiceContext, impl: DnsblogService): ServiceInstance & { server: IpcServer } {
  return serveIpc(ctx, {
    [DNSBLOG_METHOD.QUERY]: (a: { domain?: unknown; address?: unknown; id?: unknown } | null) =>
      impl.query(typeof a?.domain === 'string' ? a.domain : '', typeof a?.address === 'string' ? a.address : '', typeof a?.id === 'number' ? a.id : 0),
  });
}
