/**
 * qmgr(8) - Postfix queue manager
 *
 * SYNOPSIS
 *   master.cf: qmgr unix n - n 300 1 qmgr
 *
 * DESCRIPTION
 *   The queue manager awaits the arrival of mail and arranges for its
 *   delivery via the delivery agents. It moves mail from the incoming queue
 *   and, when due, from the deferred queue into a bounded active queue
 *   (qmgr-scan), resolves each recipient through trivial-rewrite(8)
 *   (qmgr-resolve), groups the recipients of a message by transport and
 *   next-hop into delivery requests (qmgr-active), schedules those per
 *   transport and destination with Postfix's concurrency windows, slow start
 *   and dead-destination throttling (qmgr-schedule), hands them to the
 *   delivery agents on queue_directory/private/<transport> (qmgr-deliver),
 *   and disposes of each message when all its recipients have an outcome:
 *   bounce, success and delay notices through bounce(8), the deferred queue
 *   with exponential back-off, expiry, or removal (qmgr-active, qmgr-defer).
 *   At start it moves what a previous queue manager left in the active queue
 *   back to incoming (on a queue shared by several nodes, only what this
 *   node held or what a dead node's expired lease released; the store tells
 *   it when more comes free). It never touches the hold queue.
 *
 *   Log records: "QUEUEID: from=<sender>, size=N, nrcpt=M (queue active)",
 *   "QUEUEID: removed", "QUEUEID: from=<sender>, status=expired, returned to
 *   sender", and for recipients it defers itself the delivery agents' line
 *   with relay=none.
 *
 *   A message postsuper -e / -f force-expired (QueuedMessage.expired) gets no
 *   delivery when qmgr takes it: it is returned to the sender with the
 *   reasons of its last defer log, else "4.7.0 message is administratively
 *   expired", logged as "status=force-expired, returned to sender".
 *
 * TRIGGERS (written to queue_directory/public/qmgr)
 *   I  scan the incoming queue        D  scan the deferred queue
 *   A  ignore time stamps (with D: every deferred message)
 *   F  forget dead destinations and transports
 *   W  wakeup (master's timer): scan the incoming queue
 *
 * CONFIGURATION PARAMETERS
 *   qmgr_message_active_limit (20000), qmgr_message_recipient_limit (20000),
 *   queue_run_delay (300s), minimal_backoff_time (300s), maximal_backoff_time
 *   (4000s), maximal_queue_lifetime (5d), bounce_queue_lifetime (5d),
 *   delay_warning_time (0h), default_destination_concurrency_limit (20),
 *   default_destination_recipient_limit (50), initial_destination_concurrency
 *   (5), default_destination_concurrency_failed_cohort_limit (1),
 *   default_destination_concurrency_positive_feedback (1),
 *   default_destination_concurrency_negative_feedback (1),
 *   default_process_limit (100), transport_retry_time (60s), defer_transports
 *   (empty); per transport <transport>_destination_concurrency_limit,
 *   <transport>_destination_recipient_limit,
 *   <transport>_initial_destination_concurrency,
 *   <transport>_destination_concurrency_failed_cohort_limit and the feedback
 *   pair. A transport's process limit is its master.cf maxproc, given as the
 *   QMGR_PROCESS_LIMITS map; without it default_process_limit applies.
 *
 * SECURITY
 *   The queue manager is a persistent, unprivileged process; it reads the
 *   queue only through the queue store and talks to other services only over
 *   the private sockets of queue_directory.
 */
import {
  BOUNCE,
  delayResolution,
  inject,
  injectable,
  QUEUE_STORE,
  REWRITE,
  serveTriggers,
  SERVICE_CLIENTS,
  SERVICE_PROCESS_LIMITS,
  TRIGGER,
  tryUse,
  type BounceService,
  type QueueStore,
  type RewriteService,
  type ServiceClients,
  type ServiceContext,
  type ServiceInstance,
  type ServiceMain,
} from '@postern/core';
import { ActiveQueue, type ActiveStats } from './qmgr-active.js';
import { QmgrDefer } from './qmgr-defer.js';
import { QmgrDeliver } from './qmgr-deliver.js';
import { readQmgrParams, readTransportParams, type QmgrEnv } from './qmgr-params.js';
import { QmgrResolver } from './qmgr-resolve.js';
import { QmgrScan } from './qmgr-scan.js';
import { Scheduler } from './qmgr-schedule.js';

/** master.cf maxproc per transport (service name -> limit, 0 = unlimited), registered by whoever knows master.cf. */
export const QMGR_PROCESS_LIMITS = SERVICE_PROCESS_LIMITS;

export interface QmgrOptions {
  /** master.cf maxproc per transport (qmgr_transport_process_limits); default: QMGR_PROCESS_LIMITS, else default_process_limit. */
  readonly processLimits?: Readonly<Record<string, number>>;
}

/** What qmgr takes from its container (the contracts its manifest uses). */
@injectable()
export class QmgrServices {
  constructor(
    @inject(QUEUE_STORE) readonly store: QueueStore,
    @inject(BOUNCE) readonly bounce: BounceService,
    @inject(REWRITE) readonly rewrite: RewriteService,
    @inject(SERVICE_CLIENTS) readonly clients: ServiceClients,
  ) {}
}

export interface QmgrStats extends ActiveStats {
  /** Deliveries in flight. */
  readonly busy: number;
}

export interface QmgrInstance extends ServiceInstance {
  /** Acts on trigger bytes as if written to the qmgr socket. */
  trigger(bytes: string): void;
  stats(): QmgrStats;
}

/** Builds and starts a queue manager on `ctx` (the service entry uses it; tests and embedders may too). */
export async function createQmgr(ctx: ServiceContext, options: QmgrOptions = {}): Promise<QmgrInstance> {
  const config = ctx.config;
  const params = readQmgrParams(config);
  const processLimits =
    options.processLimits ?? tryUse(ctx.container, QMGR_PROCESS_LIMITS);
  const services = ctx.container.resolve(QmgrServices);
  const env: QmgrEnv = {
    config,
    log: ctx.log,
    store: services.store,
    bounce: services.bounce,
    clients: services.clients,
    params,
    resolution: delayResolution(config),
  };
  const resolver = new QmgrResolver(services.rewrite, ctx.log);
  let deliver: QmgrDeliver | undefined;
  let stopped = false;
  const scheduler = new Scheduler({
    transportParams: (name) => readTransportParams(config, name, processLimits),
    dispatch: (entry) => deliver!.dispatch(entry),
    deadQueueTime: params.minBackoff,
    deadTransportTime: params.transportRetryTime,
  });
  const refill = Math.max(1, Math.min(100, Math.floor(params.activeLimit / 4)));
  const active = new ActiveQueue(env, resolver, scheduler, new QmgrDefer(env), () => {
    if (active.room() >= refill || active.messages.size === 0) scan.kick();
  });
  deliver = new QmgrDeliver(env, scheduler, active);
  const scan = new QmgrScan(env, active);

  const onTrigger = (data: Buffer | string) => {
    if (stopped) return;
    const bytes = data.toString();
    const all = bytes.includes(TRIGGER.SCAN_ALL);
    if (bytes.includes(TRIGGER.FLUSH_DEAD)) scheduler.flushDead();
    if (bytes.includes(TRIGGER.SCAN_DEFERRED)) scan.requestDeferred(all);
    if (bytes.includes(TRIGGER.SCAN_INCOMING) || bytes.includes(TRIGGER.WAKEUP) || (all && !bytes.includes(TRIGGER.SCAN_DEFERRED))) {
      scan.requestIncoming();
    }
  };

  const recovered = await scan.recover();
  if (recovered > 0) ctx.log.info(`moved ${recovered} message(s) from the active queue back to incoming`);
  serveTriggers(ctx, onTrigger);
  // A queue shared with other nodes: mail they left behind when they died.
  const offForeign = env.store.onForeignWork?.(() => scan.requestIncoming());
  const timer = setInterval(() => scan.requestDeferred(false), Math.max(1000, params.queueRunDelay));
  timer.unref();
  scan.requestIncoming();
  scan.requestDeferred(false);

  const stop = async (graceful: boolean) => {
    if (stopped) return;
    stopped = true;
    clearInterval(timer);
    offForeign?.();
    scan.stop();
    scheduler.stop();
    if (graceful) {
      while (deliver!.inflight.size > 0) await Promise.all([...deliver!.inflight]);
      await active.settled();
    }
    scheduler.close();
  };
  ctx.signal.addEventListener('abort', () => void stop(true), { once: true });

  return {
    trigger: (bytes) => onTrigger(bytes),
    stats: () => ({ ...active.stats, busy: scheduler.busy }),
    stop,
  };
}

export const main: ServiceMain = (ctx) => createQmgr(ctx);
