/**
 * deliver_pass(): hands one recipient to another delivery agent, as qmgr
 * would (mailbox_transport, fallback_transport and their _maps). The
 * destination is "transport" or "transport:nexthop" (an empty nexthop keeps
 * the request's). The other agent logs the recipient's status line and
 * appends its bounce, defer or trace record; its answer comes back marked
 * `reported`, so local(8) passes it on to qmgr without reporting it again.
 * An agent that cannot be reached (no such master.cf service) defers with
 * 4.3.0 "mail transport unavailable", reported by local(8) itself.
 */
import { isPosternError, MAIL_CLASS, type DeliveryRequest, type DeliveryService } from '@postern/core';
import type { RecipientParts } from './local-recipient.js';
import type { DeliverAttr, LeafResult, LocalRequest } from './local-state.js';

export const TRANSPORT_UNAVAILABLE = 'mail transport unavailable';

/** Opens the client of a master.cf delivery service (core's deliveryClient). */
export type DeliveryClients = (transport: string) => DeliveryService;

/** The transport for `user`: the first _maps entry, else the parameter; undefined when none. */
export async function transportFor(req: LocalRequest, maps: string, value: string, user: string): Promise<string | undefined> {
  if (maps.trim() !== '') {
    for (const table of req.tables.openList(maps)) {
      const v = await table.lookup(user);
      if (v !== undefined && v.trim() !== '') return v.trim();
    }
  }
  return value.trim() !== '' ? value.trim() : undefined;
}

export async function deliverPass(req: LocalRequest, attr: DeliverAttr, parts: RecipientParts, destination: string, index: number): Promise<LeafResult> {
  const colon = destination.indexOf(':');
  const transport = colon < 0 ? destination : destination.slice(0, colon);
  const nexthop = colon < 0 ? '' : destination.slice(colon + 1);
  const unavailable: LeafResult = { status: 'deferred', dsn: '4.3.0', reason: TRANSPORT_UNAVAILABLE, address: attr.recipient };
  if (!req.delivery || transport === '') return unavailable;
  const queued = req.request.recipients.find((r) => r.index === index);
  const request: DeliveryRequest = {
    ...req.request,
    transport,
    nexthop: nexthop || req.request.nexthop,
    sender: attr.sender,
    recipients: [{ ...queued, index, address: attr.recipient, original: attr.original }],
  };
  try {
    const { results } = await req.delivery(transport).deliver(request);
    const r = results.find((x) => x.index === index);
    if (!r) return { status: 'deferred', dsn: '4.3.0', reason: 'mail system internal error', address: attr.recipient };
    return { status: r.status, dsn: r.dsn, reason: r.reason, address: attr.recipient, passed: r };
  } catch (err) {
    if (isPosternError(err) && err.code === 'POSTERN_ERR_IPC_CONNECT') {
      req.log.warn(`connect to transport ${MAIL_CLASS.PRIVATE}/${transport}: ${err.message.split(': ').pop() ?? ''}`);
      return unavailable;
    }
    req.log.warn(`${req.request.queueId}: transport ${transport} for ${parts.user}: ${(err as Error)?.message ?? String(err)}`);
    return { status: 'deferred', dsn: '4.3.0', reason: 'unknown mail transport error', address: attr.recipient };
  }
}
