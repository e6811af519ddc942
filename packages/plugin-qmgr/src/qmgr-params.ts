/**
 * qmgr's configuration: the main.cf parameters it owns (with Postfix's
 * defaults) and the per-transport scheduling parameters it reads
 * (<transport>_destination_concurrency_limit and friends, postconf(5)).
 */
import type { BounceService, ConfigView, Logger, ParameterSpec, QueueStore, ServiceClients } from '@postern/core';

export const PARAMETERS: readonly ParameterSpec[] = [
  { name: 'qmgr_message_active_limit', default: '20000', type: 'int', description: 'The maximal number of messages in the active queue.' },
  { name: 'qmgr_message_recipient_limit', default: '20000', type: 'int', description: 'The maximal number of recipients held in memory by the queue manager.' },
  { name: 'queue_run_delay', default: '300s', type: 'time', unit: 's', description: 'The time between deferred queue scans by the queue manager.' },
  { name: 'minimal_backoff_time', default: '300s', type: 'time', unit: 's', description: 'The minimal time between attempts to deliver a deferred message; also how long a dead destination stays suspended.' },
  { name: 'maximal_backoff_time', default: '4000s', type: 'time', unit: 's', description: 'The maximal time between attempts to deliver a deferred message.' },
  { name: 'maximal_queue_lifetime', default: '5d', type: 'time', unit: 'd', description: 'How long a deferred message stays queued before it is returned as undeliverable.' },
  { name: 'bounce_queue_lifetime', default: '5d', type: 'time', unit: 'd', description: 'The same, for mail with the null sender (bounces).' },
  { name: 'delay_warning_time', default: '0h', type: 'time', unit: 'h', description: 'After how long a "delayed mail" warning is sent (0: never).' },
  { name: 'transport_retry_time', default: '60s', type: 'time', unit: 's', description: 'The time between attempts to contact a broken delivery transport.' },
  { name: 'defer_transports', default: '', type: 'list', description: 'Transports that deliver only on "postern queue -f" (sendmail -q).' },
];

/** Scheduling parameters @postern/core declares; their Postfix defaults, for a view that lacks them. */
const CORE_SCHEDULING: readonly ParameterSpec[] = [
  { name: 'default_destination_concurrency_limit', default: '20', type: 'int', description: 'The default maximal number of parallel deliveries to the same destination.' },
  { name: 'default_destination_recipient_limit', default: '50', type: 'int', description: 'The default maximal number of recipients per delivery request.' },
  { name: 'initial_destination_concurrency', default: '5', type: 'int', description: 'The initial per-destination concurrency level (slow start).' },
  { name: 'default_destination_concurrency_failed_cohort_limit', default: '1', type: 'int', description: 'How many failed pseudo-cohorts make a destination dead (0: never).' },
  { name: 'default_destination_concurrency_positive_feedback', default: '1', type: 'string', description: 'Window increment per successful delivery ("N" or "N/concurrency").' },
  { name: 'default_destination_concurrency_negative_feedback', default: '1', type: 'string', description: 'Window decrement per failed delivery ("N" or "N/concurrency").' },
  { name: 'default_process_limit', default: '100', type: 'int', description: 'The default maximal number of parallel deliveries per transport (master.cf maxproc).' },
];

const DEFAULTS: Readonly<Record<string, string>> = Object.fromEntries(
  [...PARAMETERS, ...CORE_SCHEDULING].map((p) => [p.name, p.default]),
);
const UNIT_SECONDS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

/** A time parameter in ms: the configured value, else qmgr's built-in default. */
function timeMs(config: ConfigView, name: string): number {
  if (config.has(name)) return config.time(name) * 1000;
  const spec = PARAMETERS.find((p) => p.name === name)!;
  const m = /^(\d+)([smhdw]?)$/.exec(spec.default)!;
  return Number(m[1]) * UNIT_SECONDS[m[2] || spec.unit || 's']! * 1000;
}

function intParam(config: ConfigView, names: readonly string[], fallback: number): number {
  for (const name of names) if (config.has(name) && config.get(name) !== '') return config.int(name);
  return fallback;
}

function textParam(config: ConfigView, names: readonly string[], fallback: string): string {
  for (const name of names) if (config.has(name) && config.get(name) !== '') return config.get(name);
  return fallback;
}

export interface QmgrParams {
  readonly activeLimit: number;
  readonly recipientLimit: number;
  readonly queueRunDelay: number;
  readonly minBackoff: number;
  readonly maxBackoff: number;
  readonly maxQueueLifetime: number;
  readonly bounceQueueLifetime: number;
  /** 0 = no delay warnings. */
  readonly delayWarningTime: number;
  readonly transportRetryTime: number;
  readonly deferTransports: ReadonlySet<string>;
  /** The next hop of a content filter ("transport:" alone) that names none. */
  readonly myhostname: string;
}

/** All times in ms. */
export function readQmgrParams(config: ConfigView): QmgrParams {
  const int = (name: string) => intParam(config, [name], Number(DEFAULTS[name]));
  return {
    activeLimit: Math.max(1, int('qmgr_message_active_limit')),
    recipientLimit: Math.max(1, int('qmgr_message_recipient_limit')),
    queueRunDelay: timeMs(config, 'queue_run_delay'),
    minBackoff: timeMs(config, 'minimal_backoff_time'),
    maxBackoff: timeMs(config, 'maximal_backoff_time'),
    maxQueueLifetime: timeMs(config, 'maximal_queue_lifetime'),
    bounceQueueLifetime: timeMs(config, 'bounce_queue_lifetime'),
    delayWarningTime: timeMs(config, 'delay_warning_time'),
    transportRetryTime: timeMs(config, 'transport_retry_time'),
    deferTransports: new Set(config.has('defer_transports') ? config.list('defer_transports') : []),
    myhostname: config.get('myhostname'),
  };
}

/** Concurrency feedback, Postfix's "N" or "N/concurrency". */
export interface Feedback {
  readonly value: number;
  readonly perConcurrency: boolean;
}

export function parseFeedback(text: string): Feedback {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(\/\s*concurrency)?\s*$/i.exec(text);
  if (!m) return { value: 1, perConcurrency: false };
  return { value: Number(m[1]), perConcurrency: m[2] !== undefined };
}

export function feedbackValue(f: Feedback, window: number): number {
  return f.perConcurrency ? f.value / Math.max(1, window) : f.value;
}

export interface TransportParams {
  /** Parallel deliveries through this transport (master.cf maxproc). */
  readonly processLimit: number;
  /** 0 = no limit. */
  readonly destConcurrencyLimit: number;
  readonly destRecipientLimit: number;
  readonly initialConcurrency: number;
  /** 0 = never declare a destination dead. */
  readonly failedCohortLimit: number;
  readonly positiveFeedback: Feedback;
  readonly negativeFeedback: Feedback;
}

/**
 * The scheduling parameters of `transport`: <transport>_NAME, else
 * default_NAME (postconf(5)); the process limit from `processLimits` (master.cf
 * maxproc), else default_process_limit.
 */
export function readTransportParams(
  config: ConfigView,
  transport: string,
  processLimits?: Readonly<Record<string, number>>,
): TransportParams {
  const int = (suffix: string, dflt: string) =>
    intParam(config, [`${transport}_${suffix}`, dflt], Number(DEFAULTS[dflt]));
  const maxproc = processLimits?.[transport] ?? intParam(config, ['default_process_limit'], Number(DEFAULTS.default_process_limit));
  const destLimit = Math.max(0, int('destination_concurrency_limit', 'default_destination_concurrency_limit'));
  return {
    processLimit: maxproc > 0 ? maxproc : Number.POSITIVE_INFINITY,
    destConcurrencyLimit: destLimit,
    destRecipientLimit: Math.max(1, int('destination_recipient_limit', 'default_destination_recipient_limit')),
    initialConcurrency: Math.max(1, int('initial_destination_concurrency', 'initial_destination_concurrency')),
    failedCohortLimit: Math.max(0, int('destination_concurrency_failed_cohort_limit', 'default_destination_concurrency_failed_cohort_limit')),
    positiveFeedback: parseFeedback(
      textParam(config, [`${transport}_destination_concurrency_positive_feedback`, 'default_destination_concurrency_positive_feedback'], '1'),
    ),
    negativeFeedback: parseFeedback(
      textParam(config, [`${transport}_destination_concurrency_negative_feedback`, 'default_destination_concurrency_negative_feedback'], '1'),
    ),
  };
}

/** What qmgr's modules share. */
export interface QmgrEnv {
  readonly config: ConfigView;
  readonly log: Logger;
  readonly store: QueueStore;
  readonly bounce: BounceService;
  /** The container's connections (to the delivery transports). */
  readonly clients: ServiceClients;
  readonly params: QmgrParams;
  /** delay_logging_resolution_limit. */
  readonly resolution: number;
}
