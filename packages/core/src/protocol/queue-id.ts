/**
 * Queue IDs in Postfix's long format (mail_queue.h, `enable_long_queue_ids = yes`).
 *
 * A long queue ID is the concatenation of
 *
 * - the time in seconds, base 52, at least six characters (MQID_LG_SEC_PAD),
 * - the microseconds, base 52, exactly four characters (MQID_LG_USEC_PAD),
 * - the separator `z` (MQID_LG_INUM_SEP),
 * - an "inode number" in base 51, so that it never contains a `z`.
 *
 * Digits come from Postfix's safe alphabet (safe_ultostr.c): digits, then upper-
 * and lower-case consonants, in ASCII order, so that comparing two IDs as
 * strings compares their times. Postfix takes the inode number of the queue
 * file; Postern has no file per message, so the "inode" is `pid * 4096 +
 * counter` (a per-process counter), and the time part never repeats or goes
 * back within one process: two IDs are unique across processes and ordered by
 * time, and IDs from one process are strictly increasing.
 */

/** Postfix's safe alphabet (safe_ultostr.c): no vowels, ASCII order. */
const SAFE_CHARS = '0123456789BCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz';
const SEC_BASE = 52;
const SEC_PAD = 6;
const USEC_BASE = 52;
const USEC_PAD = 4;
const INUM_SEP = 'z';
const INUM_BASE = 51;
/** Counter values per process id in the "inode" part. */
const COUNTER_SPAN = 4096;

const SAFE_VALUE = new Map<string, number>([...SAFE_CHARS].map((c, i) => [c, i]));
const LONG_ID = /^[0-9B-DF-HJ-NP-TV-Zb-df-hj-np-tv-z]{10,}z[0-9B-DF-HJ-NP-TV-Zb-df-hj-np-tv-y]+$/;
/** Postfix's short format: five hex digits of microseconds, then the inode number in hex. */
const SHORT_ID = /^[0-9A-F]{6,20}$/;
const MAX_ID_LENGTH = 40;

/** safe_ultostr(): `value` in `base` with the safe alphabet, left-padded with '0' to `pad`. */
function safeUltostr(value: number, base: number, pad: number): string {
  let text = '';
  let rest = value;
  do {
    text = SAFE_CHARS[rest % base] + text;
    rest = Math.floor(rest / base);
  } while (rest > 0);
  return text.padStart(pad, '0');
}

/** safe_strtoul(): the inverse of {@link safeUltostr}; NaN on a bad digit. */
function safeStrtoul(text: string, base: number): number {
  let value = 0;
  for (const c of text) {
    const digit = SAFE_VALUE.get(c);
    if (digit === undefined || digit >= base) return NaN;
    value = value * base + digit;
  }
  return value;
}

let lastMicros = 0;
let counter = 0;

/** Microseconds since the epoch: the wall clock (ms) refined by the monotonic clock. */
function nowMicros(): number {
  const subMilli = Number(process.hrtime.bigint() / 1000n) % 1000;
  return Date.now() * 1000 + subMilli;
}

/** A new, unique, time-ordered queue ID in Postfix's long format. */
export function newQueueId(): string {
  let micros = nowMicros();
  if (micros <= lastMicros) micros = lastMicros + 1;
  lastMicros = micros;
  counter = (counter + 1) % COUNTER_SPAN;
  const inum = process.pid * COUNTER_SPAN + counter;
  const sec = Math.floor(micros / 1e6);
  const usec = micros % 1e6;
  return safeUltostr(sec, SEC_BASE, SEC_PAD) + safeUltostr(usec, USEC_BASE, USEC_PAD) + INUM_SEP + safeUltostr(inum, INUM_BASE, 0);
}

/** True for a long queue ID (as {@link newQueueId} makes) with a valid microseconds field. */
export function isLongQueueId(id: string): boolean {
  if (id.length > MAX_ID_LENGTH || !LONG_ID.test(id)) return false;
  const sep = id.lastIndexOf(INUM_SEP);
  return safeStrtoul(id.slice(sep - USEC_PAD, sep), USEC_BASE) < 1e6;
}

/**
 * True for a valid queue ID: the long format, or Postfix's short format
 * (upper-case hex, `enable_long_queue_ids = no`) so that IDs copied from an
 * old Postfix log or queue are accepted by postsuper/postcat style commands.
 * Postern itself only makes long IDs.
 */
export function isQueueId(id: string): boolean {
  return typeof id === 'string' && (isLongQueueId(id) || SHORT_ID.test(id));
}

/** The time encoded in a long queue ID, in ms since the epoch; undefined for short IDs. */
export function queueIdTime(id: string): number | undefined {
  if (!isLongQueueId(id)) return undefined;
  const sep = id.lastIndexOf(INUM_SEP);
  const sec = safeStrtoul(id.slice(0, sep - USEC_PAD), SEC_BASE);
  const usec = safeStrtoul(id.slice(sep - USEC_PAD, sep), USEC_BASE);
  return sec * 1000 + Math.floor(usec / 1000);
}
