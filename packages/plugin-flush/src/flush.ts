/**
 * flush(8) - Postern fast flush cache manager
 *
 * SYNOPSIS
 *   master.cf: flush unix n - n 1000? 0 flush
 *
 * DESCRIPTION
 *   The flush server keeps a record of deferred mail by destination, so that
 *   the SMTP ETRN command, `sendmail -qRsite` and `postern queue -s site`
 *   deliver the mail queued for one site without a full queue run, and
 *   `postern queue -i ID` delivers one deferred message now. The record is
 *   one log per destination under queue_directory/flush/, with the queue IDs
 *   of deferred mail (flush-log.ts), kept only for destinations that match
 *   fast_flush_domains (flush-policy.ts).
 *
 *   Requests (contracts/flush.ts):
 *   add site queue_id
 *       Append the queue ID to the site's log (qmgr or the smtp client call
 *       this when they defer mail for a destination). Ignored (status ok)
 *       when the site is not eligible.
 *   send_site site
 *       Move every message listed in the site's log that is still in the
 *       deferred queue to the incoming queue, discard the log, and ask qmgr
 *       to forget dead destinations and scan incoming (triggers F and I).
 *       Status deny when the site is not eligible (ETRN: 459).
 *   send_file queue_id
 *       The same for one message (postqueue -i).
 *   refresh
 *       Send the logs that have not been read for fast_flush_refresh_time;
 *       remove empty logs unchanged for fast_flush_purge_time. master's
 *       wakeup timer (the 1000? column) asks for this.
 *   purge
 *       Send every non-empty log now.
 *
 *   Status values: ok, fail (the request failed), bad (bad request or
 *   parameter), deny (the destination is not eligible).
 *
 *   Moving a message out of the deferred queue is done only when a fresh
 *   read shows it still there; see the report of this package for the
 *   conditional move the queue store should offer.
 *
 * CONFIGURATION PARAMETERS
 *   fast_flush_domains ($relay_domains)   destinations with a flush log
 *   fast_flush_refresh_time (12h)         refresh a log not read for this long
 *   fast_flush_purge_time (7d)            remove an empty log this old
 *   parent_domain_matches_subdomains      how fast_flush_domains matches
 *
 * SECURITY
 *   The flush server is not security-sensitive: it talks only to local
 *   clients over its socket, validates every site name as a hostname or
 *   address literal before it touches a file named after it, and every queue
 *   ID before it touches the queue.
 */
import {
  BACKEND,
  BACKENDS,
  isFlushSite,
  isQueueId,
  openBackend,
  inject,
  injectable,
  QMGR_TRIGGER,
  QUEUE,
  QUEUE_STORE,
  serveFlush,
  TABLES,
  TRIGGER,
  tryUse,
  type TriggerService,
  type FlushLogStore,
  type FlushService,
  type FlushStatus,
  type Logger,
  type QueueStore,
  type ServiceContext,
  type ServiceInstance,
  type ServiceMain,
  type TableRegistry,
} from '@postern/core';
import { FlushLogs } from './flush-log.js';
import { FlushPolicy } from './flush-policy.js';

export interface FlushOptions {
  /** Default: what flush_backend names (files under queue_directory/flush). */
  readonly logs?: FlushLogStore;
}

/** What flush takes from its container: the queue store and qmgr's trigger (its manifest uses qmgr). */
@injectable()
export class FlushServices {
  constructor(
    @inject(QUEUE_STORE) readonly store: QueueStore,
    @inject(QMGR_TRIGGER) readonly qmgr: TriggerService,
  ) {}
}

export interface FlushInstance extends FlushService {
  readonly logs: FlushLogStore;
}

/** Builds the flush service of `ctx` (the entry serves it; tests and embedders may call it directly). */
export function createFlush(ctx: ServiceContext, options: FlushOptions = {}): FlushInstance {
  const { config } = ctx;
  const log: Logger = ctx.log;
  const { store, qmgr } = ctx.container.resolve(FlushServices);
  const tables: TableRegistry | undefined = tryUse(ctx.container, TABLES);
  const policy = new FlushPolicy(config, tables);
  const backends = tryUse(ctx.container, BACKENDS);
  const logs: FlushLogStore =
    options.logs ?? (backends && openBackend<FlushLogStore>(backends, BACKEND.FLUSH, config, log)) ?? new FlushLogs(config.get('queue_directory'));
  const refreshTime = config.time('fast_flush_refresh_time') * 1000;
  const purgeTime = config.time('fast_flush_purge_time') * 1000;
  const wake = (bytes: string) => qmgr.trigger(bytes);

  /** Moves `id` from deferred to incoming if it is still deferred; true when moved. */
  const release = async (id: string): Promise<boolean> => {
    const msg = await store.get(id);
    if (msg?.queue !== QUEUE.DEFERRED) return false;
    return (await store.move(id, QUEUE.INCOMING)) !== undefined;
  };

  const sendIds = async (what: string, ids: readonly string[]): Promise<number> => {
    let moved = 0;
    for (const id of ids) {
      if (!isQueueId(id)) {
        log.warn(`bad queue id "${id.slice(0, 30)}..." in fast flush log for site ${what}`);
        continue;
      }
      if (await release(id)) moved++;
      else log.debug(`${what}: ${id} is no longer deferred`);
    }
    if (moved > 0) {
      log.debug(`requesting delivery for site ${what}: ${moved} message(s)`);
      wake(TRIGGER.FLUSH_DEAD + TRIGGER.SCAN_INCOMING);
    }
    return moved;
  };

  const guarded = async (what: string, work: () => Promise<FlushStatus>): Promise<FlushStatus> => {
    try {
      return await work();
    } catch (err) {
      log.warn(`${what}: ${(err as Error).message}`);
      return 'fail';
    }
  };

  const refreshOlderThan = async (maxAge: number): Promise<FlushStatus> =>
    guarded('refresh', async () => {
      const now = Date.now();
      for await (const entry of logs.entries()) {
        if (!entry.leftover && !FlushLogs.validName(entry.site)) {
          log.warn(`bad fast flush logfile name: ${entry.file}`);
          await logs.remove(entry.file);
          continue;
        }
        if (entry.leftover) {
          await sendIds(entry.site, await logs.consume(entry.file));
        } else if (entry.size === 0) {
          if (entry.mtimeMs + purgeTime < now) await logs.remove(entry.file);
        } else if (entry.readMs + maxAge <= now) {
          log.debug(`flush site ${entry.site}`);
          await sendIds(entry.site, await logs.take(entry.site));
        }
      }
      return 'ok';
    });

  return {
    logs,
    add: (site, queueId) =>
      guarded(`add ${site}`, async () => {
        if (!isFlushSite(site) || !isQueueId(queueId)) return 'bad';
        if (!(await policy.match(site))) return 'ok';
        log.debug(`add: site ${site} queue_id ${queueId}`);
        await logs.add(site, queueId);
        return 'ok';
      }),
    sendSite: (site) =>
      guarded(`send_site ${site}`, async () => {
        if (!isFlushSite(site)) return 'bad';
        if (!(await policy.match(site))) return 'deny';
        await sendIds(site, await logs.take(site));
        return 'ok';
      }),
    sendFile: (queueId) =>
      guarded(`send_file ${queueId}`, async () => {
        if (!isQueueId(queueId)) return 'bad';
        if (await release(queueId)) wake(TRIGGER.FLUSH_DEAD + TRIGGER.SCAN_INCOMING);
        return 'ok';
      }),
    refresh: () => refreshOlderThan(refreshTime),
    purge: () => refreshOlderThan(0),
  };
}

export const main: ServiceMain = async (ctx): Promise<ServiceInstance> => {
  const flush = createFlush(ctx);
  const served = serveFlush(ctx, flush);
  ctx.onTrigger(() => void flush.refresh());
  return served;
};
