/**
 * Delivery status logging (Postfix's log_adhoc.c): the one line per recipient
 * that every delivery agent, and qmgr for the recipients it defers itself,
 * writes to the mail log:
 *
 *   QUEUEID: to=<rcpt>, orig_to=<orig>, relay=R, delay=T, delays=a/b/c/d, dsn=X.Y.Z, status=S (reason)
 *
 * delays= splits the total delay as postconf(5) describes it: a = before the
 * active queue (arrival to qmgr), b = in the active queue (qmgr to the
 * delivery agent), c = connection setup (DNS, HELO, TLS), d = transmission.
 */
import type { ConfigView } from '../contracts/config.js';

/** Time stamps of one delivery (ms since the epoch), Postfix's MSG_STATS. */
export interface DeliveryTimes {
  /** When the message arrived (queue file creation). */
  readonly arrival: number;
  /** When qmgr last moved the message into the active queue. */
  readonly active?: number;
  /** When the delivery agent took the request. */
  readonly agent?: number;
  /** When connection setup was complete (delivery agents with connections). */
  readonly connected?: number;
  /** When the outcome was known; default: now. */
  readonly done?: number;
}

/** The default of delay_logging_resolution_limit. */
export const DELAY_RESOLUTION_DEFAULT = 2;

/**
 * Formats one delay in seconds as Postfix logs it: 100s and more as whole
 * seconds, smaller values with at most two significant digits and at most
 * `resolution` digits after the point, values below that resolution as "0".
 */
export function formatDelay(seconds: number, resolution = DELAY_RESOLUTION_DEFAULT): string {
  const s = Number.isFinite(seconds) && seconds > 0 ? seconds : 0;
  if (s >= 100) return String(Math.round(s));
  const res = Math.max(0, Math.min(6, Math.trunc(resolution)));
  if (s < Math.pow(10, -res)) return '0';
  const digits = Math.min(res, Math.max(0, 1 - Math.floor(Math.log10(s))));
  const text = s.toFixed(digits);
  return text.includes('.') ? text.replace(/\.?0+$/, '') : text;
}

/** The delay= and delays= figures of `times`. */
export function formatDelays(times: DeliveryTimes, resolution = DELAY_RESOLUTION_DEFAULT): { delay: string; delays: string } {
  const done = times.done ?? Date.now();
  const active = clamp(times.active ?? times.agent ?? done, times.arrival, done);
  const agent = clamp(times.agent ?? active, active, done);
  const connected = clamp(times.connected ?? agent, agent, done);
  const f = (ms: number) => formatDelay(ms / 1000, resolution);
  return {
    delay: f(done - times.arrival),
    delays: `${f(active - times.arrival)}/${f(agent - active)}/${f(connected - agent)}/${f(done - connected)}`,
  };
}

function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? Math.max(lo, hi) : v;
}

export interface DeliveryLogLine {
  readonly queueId: string;
  readonly recipient: string;
  /** Logged as orig_to= when it differs from the recipient (case-insensitively). */
  readonly original?: string;
  readonly relay: string;
  /** conn_use=, logged when a cached connection was used more than once. */
  readonly connUse?: number;
  readonly times: DeliveryTimes;
  readonly dsn: string;
  /** sent, deferred, bounced, deliverable, undeliverable, expired ... */
  readonly status: string;
  readonly reason: string;
}

/** The text of a log_adhoc line (without the syslog prefix). */
export function formatDeliveryLine(line: DeliveryLogLine, resolution = DELAY_RESOLUTION_DEFAULT): string {
  const { delay, delays } = formatDelays(line.times, resolution);
  const orig =
    line.original && line.original.toLowerCase() !== line.recipient.toLowerCase() ? `, orig_to=<${line.original}>` : '';
  const conn = line.connUse && line.connUse > 1 ? `, conn_use=${line.connUse}` : '';
  return (
    `${line.queueId}: to=<${line.recipient}>${orig}, relay=${line.relay}${conn}, delay=${delay}, ` +
    `delays=${delays}, dsn=${line.dsn}, status=${line.status} (${line.reason})`
  );
}

/** delay_logging_resolution_limit from `config`, or its default when no package declares it. */
export function delayResolution(config: ConfigView): number {
  return config.has('delay_logging_resolution_limit')
    ? config.int('delay_logging_resolution_limit')
    : DELAY_RESOLUTION_DEFAULT;
}
