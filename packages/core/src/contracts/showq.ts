/**
 * showq(8) as a contract: the mail queue listing that postqueue -p / -j,
 * mailq and sendmail -bp print. The service streams one row per message as an
 * interim event of a single IPC call (with the socket's backpressure), and
 * replies with a summary; nothing collects the whole queue in memory.
 *
 * Rows carry Postfix's showq/postqueue -j field names, so `postern queue -j`
 * prints them as they come.
 */
import type { QueueStore } from './queue.js';
import type { ServiceContext, ServiceInstance } from './service.js';
import { token } from './token.js';
import { DELIVERY_LOG, QUEUE, type QueueName } from '../protocol/queues.js';
import { SERVICE } from '../protocol/services.js';
import type { ServiceClients } from '../service/clients.js';
import { serveIpc } from '../service/serve.js';
import type { IpcClient } from '../ipc/client.js';
import type { IpcServer } from '../ipc/server.js';

/** One recipient that still awaits delivery, with its last deferral reason. */
export interface ShowqRecipient {
  readonly address: string;
  /** Present only when there is a reason (postqueue -j omits the field otherwise). */
  readonly delay_reason?: string;
}

/** One queued message, as postqueue -j prints it. */
export interface ShowqRow {
  readonly queue_name: QueueName;
  readonly queue_id: string;
  /** Seconds since the epoch. */
  readonly arrival_time: number;
  /** Bytes. */
  readonly message_size: number;
  readonly forced_expire: boolean;
  /** The envelope sender; the null sender is shown as empty_address_recipient (MAILER-DAEMON). */
  readonly sender: string;
  readonly recipients: readonly ShowqRecipient[];
}

export interface ShowqSummary {
  readonly messages: number;
  /** Sum of message_size. */
  readonly bytes: number;
}

export interface ShowqOptions {
  /** Queues to list, in this order (default SHOWQ_QUEUES). */
  readonly queues?: readonly QueueName[];
  /** What to print for the null sender (empty_address_recipient, default MAILER-DAEMON). */
  readonly emptyAddress?: string;
}

/** A row consumer; a returned promise is awaited before the next row (backpressure). */
export type ShowqRowHandler = (row: ShowqRow) => void | Promise<void>;

export interface ShowqService {
  list(onRow: ShowqRowHandler, options?: ShowqOptions): Promise<ShowqSummary>;
}

export const SHOWQ = token<ShowqService>('ShowqService');

/** Method name on the wire. */
export const SHOWQ_METHOD = { LIST: 'list' } as const;

/** The queues showq reports, in its order (showq.c: maildrop, incoming, active, deferred, hold). */
export const SHOWQ_QUEUES: readonly QueueName[] = [QUEUE.MAILDROP, QUEUE.INCOMING, QUEUE.ACTIVE, QUEUE.DEFERRED, QUEUE.HOLD];

/**
 * The rows of the queue, read a page at a time from the store (its scan is
 * paged), so memory stays bounded for any queue length. Recipients already
 * done are left out; each remaining recipient gets its reason from the defer
 * log (the latest record for that address), else the message's last deferral
 * reason when it is in the deferred queue.
 */
export async function* showqScan(store: QueueStore, options: ShowqOptions = {}): AsyncGenerator<ShowqRow> {
  const empty = options.emptyAddress || 'MAILER-DAEMON';
  for (const queue of options.queues ?? SHOWQ_QUEUES) {
    for await (const m of store.scan(queue)) {
      const reasons = new Map<string, string>();
      if (queue === QUEUE.DEFERRED || queue === QUEUE.ACTIVE || queue === QUEUE.HOLD) {
        let records: Awaited<ReturnType<QueueStore['readLog']>> = [];
        try {
          records = await store.readLog(DELIVERY_LOG.DEFER, m.id);
        } catch {
          records = [];
        }
        for (const r of records) reasons.set(r.recipient, r.reason);
      }
      const fallback = queue === QUEUE.DEFERRED ? (m.reason ?? '') : '';
      const recipients: ShowqRecipient[] = [];
      for (const r of m.recipients) {
        if (r.done) continue;
        const why = reasons.get(r.address) ?? fallback;
        recipients.push(why ? { address: r.address, delay_reason: why } : { address: r.address });
      }
      yield {
        queue_name: queue,
        queue_id: m.id,
        arrival_time: Math.floor(m.arrivalTime / 1000),
        message_size: m.size,
        forced_expire: false,
        sender: m.sender === '' ? empty : m.sender,
        recipients,
      };
    }
  }
}

/** The showq service over a queue store (what plugin-showq serves; also postqueue's stand-alone mode). */
export class StoreShowq implements ShowqService {
  constructor(private readonly store: QueueStore) {}
  async list(onRow: ShowqRowHandler, options?: ShowqOptions): Promise<ShowqSummary> {
    let messages = 0;
    let bytes = 0;
    for await (const row of showqScan(this.store, options)) {
      messages++;
      bytes += row.message_size;
      await onRow(row);
    }
    return { messages, bytes };
  }
}

/** The client side: rows arrive as events of one call. */
export class RemoteShowq implements ShowqService {
  constructor(private readonly client: IpcClient) {}
  list(onRow: ShowqRowHandler, options?: ShowqOptions): Promise<ShowqSummary> {
    return this.client.call<ShowqSummary>(SHOWQ_METHOD.LIST, options ?? {}, {
      onEvent: (row: ShowqRow) => onRow(row),
    });
  }
}

export const showqClient = (clients: ServiceClients): ShowqService => new RemoteShowq(clients.client(SERVICE.SHOWQ));

/**
 * Serves `impl` on the showq endpoint: each row is one EVENT frame, and the
 * next row is produced only when the socket has taken the previous one
 * (IncomingCall.emit resolves on drain). A client that goes away stops the scan.
 */
export function serveShowq(ctx: ServiceContext, impl: ShowqService): ServiceInstance & { server: IpcServer } {
  return serveIpc(ctx, {
    [SHOWQ_METHOD.LIST]: async (args: ShowqOptions | null, call) => {
      const stop = new Error('showq client went away');
      try {
        return await impl.list(async (row) => {
          if (call.signal.aborted) throw stop;
          await call.emit(row);
        }, args ?? {});
      } catch (err) {
        if (err === stop) return { messages: 0, bytes: 0 };
        throw err;
      }
    },
  });
}
