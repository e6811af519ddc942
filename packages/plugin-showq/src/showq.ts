/**
 * showq(8) - list the Postern mail queue
 *
 * SYNOPSIS
 *   master.cf: showq unix n - n - - showq
 *
 * DESCRIPTION
 *   The showq daemon reports the mail queue: for every message in the
 *   maildrop, incoming, active, deferred and hold queues (in that order) its
 *   queue name and ID, arrival time, size, sender, and the recipients that
 *   still await delivery with their last deferral reason. postqueue -p and -j
 *   (`postern queue`), mailq and sendmail -bp format these rows.
 *
 *   The queue is read a page at a time (the queue store's scan is paged) and
 *   every row is sent as soon as it is read, so a queue of any length is
 *   listed in bounded memory; the next row is read only when the client's
 *   socket has taken the previous one. A client that disconnects stops the
 *   scan. The listing is not a snapshot: messages that move while it runs may
 *   be shown in their old or new queue, as with Postfix's directory scan.
 *
 *   When the mail system is down, `postern queue` produces the same rows
 *   directly from the queue store (Postfix runs showq in stand-alone mode).
 *
 * PROTOCOL
 *   One method on queue_directory/public/showq (Postern IPC): "list" with
 *   optional {queues, emptyAddress}; one EVENT frame per message
 *   (contracts/showq.ts: ShowqRow, Postfix's postqueue -j field names); the
 *   reply is {messages, bytes}.
 *
 * CONFIGURATION PARAMETERS
 *   empty_address_recipient (MAILER-DAEMON)  shown for the null sender
 *   showq_service_name (showq)
 *
 * SECURITY
 *   showq reads the queue and writes nothing; it takes no input besides the
 *   queue list, and reveals only what mailq shows. Its socket is public, as
 *   in Postfix, so unprivileged users can list the queue.
 */
import {
  isQueueName,
  QUEUE_STORE,
  serveShowq,
  StoreShowq,
  use,
  type QueueName,
  type ServiceContext,
  type ServiceInstance,
  type ServiceMain,
  type ShowqOptions,
  type ShowqRowHandler,
  type ShowqService,
} from '@postern/core';

/** The showq service of `ctx`: the queue store of its container, with empty_address_recipient. */
export function createShowq(ctx: ServiceContext): ShowqService {
  const store = use(ctx.container, QUEUE_STORE);
  const impl = new StoreShowq(store);
  const emptyAddress = ctx.config.get('empty_address_recipient') || 'MAILER-DAEMON';
  return {
    async list(onRow: ShowqRowHandler, options: ShowqOptions = {}) {
      const queues = Array.isArray(options.queues) ? options.queues.filter((q): q is QueueName => isQueueName(String(q))) : undefined;
      const started = Date.now();
      const summary = await impl.list(onRow, { queues, emptyAddress });
      ctx.log.debug(`listed ${summary.messages} message(s), ${summary.bytes} bytes in ${Date.now() - started} ms`);
      return summary;
    },
  };
}

export const main: ServiceMain = async (ctx): Promise<ServiceInstance> => serveShowq(ctx, createShowq(ctx));
