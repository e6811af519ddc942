/**
 * error(8) - Postfix error/retry mail delivery agent
 *
 * SYNOPSIS
 *   master.cf: error unix - - n - - error
 *              retry unix - - n - - error
 *
 * DESCRIPTION
 *   The error delivery agent processes delivery requests from the queue
 *   manager. Each request names one message and one or more recipients.
 *   Running as the "error" service it bounces every recipient; running as
 *   the "retry" service it defers every recipient. The reason is the
 *   next-hop text of the request, as trivial-rewrite(8) resolved it (for
 *   example from a transport map entry "error:5.1.1 mailbox unavailable" or
 *   from qmgr's "4.3.0 address resolver failure"). A leading RFC 3463 status
 *   becomes the DSN; without one the status is 5.0.0 (error) or 4.0.0 (retry).
 *   The delivery agent skeleton of @postern/core logs each recipient
 *   (relay=none) and appends it to the bounce or defer log.
 *
 * PROTOCOL
 *   The DELIVER method of Postern's IPC on queue_directory/private/error and
 *   queue_directory/private/retry.
 *
 * CONFIGURATION PARAMETERS
 *   delay_logging_resolution_limit (2)  digits after the point in delays=
 *   error_destination_recipient_limit, retry_destination_recipient_limit
 *   ($default_destination_recipient_limit), read by qmgr.
 *
 * SECURITY
 *   The agent never opens the message content; it runs unprivileged.
 */
import { deliveryAgent, SERVICE, type DeliverFunction, type ServiceMain } from '@postern/core';

const DSN_PREFIX = /^([245]\.\d{1,3}\.\d{1,3})(?:\s+|$)/;

/** Postfix's dsn_split(): a leading "X.Y.Z " status and the text after it, or `def` and the whole text. */
export function splitDsn(def: string, text: string): { dsn: string; text: string } {
  const m = DSN_PREFIX.exec(text);
  return m ? { dsn: m[1]!, text: text.slice(m[0].length) } : { dsn: def, text };
}

/** The deliver function of the error service (bounce) or, with retry, the retry service (defer). */
export function errorDeliverer(retry: boolean): DeliverFunction {
  return async (request) => {
    const { dsn, text } = splitDsn(retry ? '4.0.0' : '5.0.0', request.nexthop);
    return request.recipients.map((rcpt) => ({
      index: rcpt.index,
      status: retry ? ('deferred' as const) : ('bounced' as const),
      dsn,
      reason: text || (retry ? 'delivery temporarily suspended' : 'mail system error'),
      relay: 'none',
    }));
  };
}

export const main: ServiceMain = async (ctx) =>
  deliveryAgent(ctx, errorDeliverer(ctx.entry.name === SERVICE.RETRY), { relay: 'none' });
