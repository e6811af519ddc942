/**
 * discard(8) - Postfix discard mail delivery agent
 *
 * SYNOPSIS
 *   master.cf: discard unix - - n - - discard
 *
 * DESCRIPTION
 *   The discard delivery agent processes delivery requests from the queue
 *   manager. Each request names one message and one or more recipients. The
 *   agent pretends delivery of every recipient and logs the next-hop
 *   destination as the reason (status=sent (NEXTHOP)), "discarded" when the
 *   next-hop is empty, with relay=none. Recipients with NOTIFY=SUCCESS and
 *   traced requests get a record in the trace log, so the sender can be told.
 *   The delivery agent skeleton of @postern/core (deliveryAgent) reads the
 *   requests, logs and records the outcome, and answers qmgr.
 *
 * PROTOCOL
 *   The DELIVER method of Postern's IPC on queue_directory/private/discard
 *   (contracts/delivery.ts: DeliveryRequest in, DeliveryResponse out).
 *
 * CONFIGURATION PARAMETERS
 *   delay_logging_resolution_limit (2)  digits after the point in delays=
 *   discard_destination_recipient_limit ($default_destination_recipient_limit)
 *   discard_destination_concurrency_limit ($default_destination_concurrency_limit)
 *   (both read by qmgr)
 *
 * SECURITY
 *   The agent never opens the message content and writes nothing but log
 *   records; it runs unprivileged.
 */
import { deliveryAgent, type DeliverFunction, type ServiceMain } from '@postern/core';

/** Every recipient is "delivered": dsn 2.0.0, the next-hop text as the reason. */
export const deliverDiscard: DeliverFunction = async (request) =>
  request.recipients.map((rcpt) => ({
    index: rcpt.index,
    status: 'sent' as const,
    dsn: '2.0.0',
    reason: request.nexthop || 'discarded',
    relay: 'none',
  }));

export const main: ServiceMain = async (ctx) => deliveryAgent(ctx, deliverDiscard, { relay: 'none' });
