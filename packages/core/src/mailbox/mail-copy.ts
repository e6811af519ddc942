/**
 * mail_copy(3): the message as a delivery agent writes it to a mailbox, a
 * file or a command. The queued content (LF or CRLF line ends) is copied
 * line by line with, depending on the options, and in this order:
 *
 *   From SENDER  DATE         (from: mbox and pipe's F flag; asctime format,
 *                             two spaces before the date as Postfix writes)
 *   Return-Path: <SENDER>     (returnPath)
 *   X-Original-To: ORIGINAL   (originalRecipient)
 *   Delivered-To: RECIPIENT   (deliveredTo)
 *   the message, each line ending in `eol`, with
 *     ">" before lines starting with "From " (quoteFrom: mbox From_ quoting, pipe's >)
 *     "." before lines starting with "."     (dotQuote: pipe's . flag)
 *   an empty line at the end unless the message ends in one (blank)
 *
 * Addresses in the prepended lines are written in external (quoted) form,
 * the null sender as MAILER-DAEMON in the From_ line and <> in Return-Path
 * (pipe(8)'s null_sender= replaces both).
 */
import { quoteLocalPart } from '../mail/address.js';

export interface MailCopyOptions {
  /** Prepend a "From sender date" envelope line with this sender ("" = the null sender). */
  readonly from?: string;
  /** Prepend "Return-Path: <sender>". */
  readonly returnPath?: string;
  /** Prepend "X-Original-To: address". */
  readonly originalRecipient?: string;
  /** Prepend "Delivered-To: address". */
  readonly deliveredTo?: string;
  /** Quote lines beginning with "From " as ">From ". */
  readonly quoteFrom?: boolean;
  /** Prepend "." to lines beginning with ".". */
  readonly dotQuote?: boolean;
  /** Append an empty line unless the message already ends with one. */
  readonly blank?: boolean;
  /** Output line terminator (default "\n"). */
  readonly eol?: string;
  /** Replacement for the null sender in the From_ line and Return-Path: (default: From_ MAILER-DAEMON, Return-Path <>). */
  readonly nullSender?: string;
  /** The From_ line's time stamp (default: now). */
  readonly date?: Date;
}

export const MAILER_DAEMON = 'MAILER-DAEMON';

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** asctime(localtime(date)) without the newline: "Thu Jan  1 00:00:00 2024". */
export function asctime(date: Date): string {
  const two = (n: number) => String(n).padStart(2, '0');
  return (
    `${DAYS[date.getDay()]} ${MONTHS[date.getMonth()]} ${String(date.getDate()).padStart(2, ' ')} ` +
    `${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())} ${date.getFullYear()}`
  );
}

/** The mbox envelope line "From sender  date" (no line end; two spaces, as Postfix's mail_copy writes). */
export function fromLine(sender: string, date: Date = new Date(), nullSender = MAILER_DAEMON): string {
  return `From ${sender === '' ? nullSender : quoteLocalPart(sender)}  ${asctime(date)}`;
}

/** The lines mail_copy prepends, without line ends. */
export function prependedLines(opts: MailCopyOptions): string[] {
  const out: string[] = [];
  if (opts.from !== undefined) out.push(fromLine(opts.from, opts.date, opts.nullSender ?? MAILER_DAEMON));
  if (opts.returnPath !== undefined) {
    const rp = opts.returnPath === '' ? (opts.nullSender ?? '') : quoteLocalPart(opts.returnPath);
    out.push(`Return-Path: <${rp}>`);
  }
  if (opts.originalRecipient !== undefined) out.push(`X-Original-To: ${quoteLocalPart(opts.originalRecipient)}`);
  if (opts.deliveredTo !== undefined) out.push(`Delivered-To: ${quoteLocalPart(opts.deliveredTo)}`);
  return out;
}

const LF = 0x0a;
const CR = 0x0d;
const FROM_ = Buffer.from('From ');

function quoteLine(line: Buffer, opts: MailCopyOptions): Buffer {
  let prefix = '';
  if (opts.quoteFrom && line.length >= 5 && line.subarray(0, 5).equals(FROM_)) prefix = '>';
  else if (opts.dotQuote && line.length > 0 && line[0] === 0x2e) prefix = '.';
  return prefix ? Buffer.concat([Buffer.from(prefix), line]) : line;
}

/**
 * Copies `content` as described in the module header. Yields output
 * chunks; the input is consumed lazily.
 */
export async function* mailCopy(content: AsyncIterable<Buffer> | Iterable<Buffer>, opts: MailCopyOptions = {}): AsyncGenerator<Buffer> {
  const eol = Buffer.from(opts.eol ?? '\n');
  const head = prependedLines(opts);
  if (head.length > 0) yield Buffer.from(head.map((l) => l + (opts.eol ?? '\n')).join(''));
  let pending: Buffer = Buffer.alloc(0);
  let lastLineEmpty = false;
  let sawAny = false;
  for await (const chunk of content as AsyncIterable<Buffer>) {
    const data = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    const out: Buffer[] = [];
    let start = 0;
    for (let i = data.indexOf(LF, start); i >= 0; i = data.indexOf(LF, start)) {
      let end = i;
      if (end > start && data[end - 1] === CR) end--;
      const line = data.subarray(start, end);
      out.push(quoteLine(line, opts), eol);
      lastLineEmpty = line.length === 0;
      sawAny = true;
      start = i + 1;
    }
    pending = Buffer.from(data.subarray(start));
    if (out.length) yield Buffer.concat(out);
  }
  if (pending.length > 0) {
    if (pending[pending.length - 1] === CR) pending = pending.subarray(0, pending.length - 1);
    yield Buffer.concat([quoteLine(pending, opts), eol]);
    lastLineEmpty = pending.length === 0;
    sawAny = true;
  }
  if (opts.blank && (!sawAny || !lastLineEmpty)) yield eol;
}

/** Reads the header section of a message (up to the first empty line) from a buffer. */
export function headerSection(message: Buffer): string {
  const text = message.toString('latin1').replace(/\r\n/g, '\n');
  const end = text.startsWith('\n') ? 0 : text.indexOf('\n\n');
  return end < 0 ? text : text.slice(0, end + 1);
}

/**
 * The values of every Delivered-To: header in the message headers
 * (unfolded, trimmed). Used for loop detection (delivered_hdr(3)).
 */
export function deliveredToHeaders(message: Buffer): string[] {
  const head = headerSection(message).replace(/\n[ \t]+/g, ' ');
  const out: string[] = [];
  for (const line of head.split('\n')) {
    const m = /^delivered-to:\s*(.*)$/i.exec(line);
    if (m) out.push(m[1]!.trim());
  }
  return out;
}
