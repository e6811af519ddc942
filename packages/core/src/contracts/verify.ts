/**
 * verify(8) as a contract: Postfix's address verification cache service
 * (verify_clnt.c). It remembers, per address, whether a probe message found
 * the address deliverable, and sends new probes when an entry is missing or
 * due for a refresh (ADDRESS_VERIFICATION_README).
 *
 * Who calls what:
 * - smtpd's reject_unverified_recipient / reject_unverified_sender:
 *   `query(address)`; "undetermined" is polled again (address_verify_poll_count
 *   times, address_verify_poll_delay apart) while the probe travels, then
 *   mapped to the unverified_*_defer_code / _reject_code replies.
 * - the delivery agents, for a message carrying the verify trace flag (a
 *   probe or `sendmail -bv`): `update(address, status, text)` with the would-be
 *   delivery's outcome instead of delivering (Postfix's verify_append()).
 *
 * Statuses are Postfix's DEL_RCPT_STAT_* as words: deliverable = OK,
 * undeliverable = BOUNCE, undetermined = DEFER (update) or TODO (query: no
 * usable entry, probe in progress). The remote stub answers "undetermined"
 * with "address verification service is unavailable" when the service cannot
 * be reached, as verify_clnt does (VRFY_STAT_FAIL).
 */
import type { ServiceContext, ServiceInstance } from './service.js';
import { token } from './token.js';
import { SERVICE } from '../protocol/services.js';
import type { ServiceClients } from '../service/clients.js';
import { serveIpc } from '../service/serve.js';
import type { IpcClient } from '../ipc/client.js';
import type { IpcServer } from '../ipc/server.js';

export type VerifyStatus = 'deliverable' | 'undeliverable' | 'undetermined';

export interface VerifyResult {
  readonly status: VerifyStatus;
  /** Why: the delivery agent's text, or "Address verification in progress". */
  readonly text: string;
}

export interface VerifyService {
  /** VRFY_REQ_QUERY: the cached status; may send a probe (not awaited). */
  query(address: string): Promise<VerifyResult>;
  /** VRFY_REQ_UPDATE: record a probe's outcome. False: bad request (VRFY_STAT_BAD). */
  update(address: string, status: VerifyStatus, text: string): Promise<boolean>;
}

export const VERIFY = token<VerifyService>('VerifyService');

/** Method names on the wire (Postfix's request names). */
export const VERIFY_METHOD = { QUERY: 'query', UPDATE: 'update' } as const;

export const VERIFY_STATUSES: readonly VerifyStatus[] = ['deliverable', 'undeliverable', 'undetermined'];

export function isVerifyStatus(v: unknown): v is VerifyStatus {
  return typeof v === 'string' && (VERIFY_STATUSES as readonly string[]).includes(v);
}

/** The client side; never throws. */
export class RemoteVerify implements VerifyService {
  constructor(private readonly client: IpcClient) {}
  async query(address: string): Promise<VerifyResult> {
    try {
      const r = await this.client.call<VerifyResult>(VERIFY_METHOD.QUERY, { address });
      if (r && isVerifyStatus(r.status) && typeof r.text === 'string') return { status: r.status, text: r.text };
    } catch {
      // VRFY_STAT_FAIL below
    }
    return { status: 'undetermined', text: 'address verification service is unavailable' };
  }
  async update(address: string, status: VerifyStatus, text: string): Promise<boolean> {
    try {
      return (await this.client.call<boolean>(VERIFY_METHOD.UPDATE, { address, status, text })) === true;
    } catch {
      return false;
    }
  }
}

export const verifyClient = (clients: ServiceClients): VerifyService => new RemoteVerify(clients.client(SERVICE.VERIFY));

/** Serves `impl` on the verify endpoint. */
export function serveVerify(ctx: ServiceContext, impl: VerifyService): ServiceInstance & { server: IpcServer } {
  const str = (v: unknown) => (typeof v === 'string' ? v : '');
  return serveIpc(ctx, {
    [VERIFY_METHOD.QUERY]: (a: { address?: unknown } | null) => impl.query(str(a?.address)),
    [VERIFY_METHOD.UPDATE]: (a: { address?: unknown; status?: unknown; text?: unknown } | null) =>
      isVerifyStatus(a?.status) ? impl.update(str(a?.address), a.status, str(a?.text)) : false,
  });
}
