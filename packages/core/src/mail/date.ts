/**
 * mail_date(3): the RFC 5322 date Postfix writes in Received:, Date: and
 * bounce messages: "Sat, 21 Nov 2026 07:00:00 +0000 (UTC)", the day padded
 * with a space as strftime's %e. Made once per second: it is on the path of
 * every message.
 */
const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
/** Built on first use: ICU's set-up costs ~35 ms at start of every process otherwise. */
let zoneFormat: Intl.DateTimeFormat | undefined;

let cachedSecond = Number.NaN;
let cachedText = '';

function p2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

function format(d: Date): string {
  const off = -d.getTimezoneOffset();
  const abs = Math.abs(off);
  const zone = `${off < 0 ? '-' : '+'}${p2(Math.floor(abs / 60))}${p2(abs % 60)}`;
  zoneFormat ??= new Intl.DateTimeFormat('en-US', { timeZoneName: 'short' });
  const name = zoneFormat.formatToParts(d).find((x) => x.type === 'timeZoneName')?.value ?? '';
  const day = String(d.getDate()).padStart(2, ' ');
  const base = `${DAYS[d.getDay()]}, ${day} ${MONTHS[d.getMonth()]} ${d.getFullYear()} ${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())} ${zone}`;
  return /^[A-Z]{2,6}$/.test(name) ? `${base} (${name})` : base;
}

/** The mail_date() text of `when` (ms since the epoch, or a Date; default now). */
export function mailDate(when: number | Date = Date.now()): string {
  const ms = typeof when === 'number' ? when : when.getTime();
  const second = Math.floor(ms / 1000);
  if (second !== cachedSecond) {
    cachedText = format(new Date(second * 1000));
    cachedSecond = second;
  }
  return cachedText;
}
