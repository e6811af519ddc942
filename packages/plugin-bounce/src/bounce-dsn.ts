/**
 * The RFC 3464 multipart/report builder (Postfix's bounce_notify_util.c):
 *
 *   headers        From, Subject, To, [References, In-Reply-To],
 *                  Auto-Submitted, Date, Message-Id, MIME-Version,
 *                  Content-Type: multipart/report; report-type=delivery-status
 *   part 1         text/plain "Notification": the template text, then one
 *                  "<rcpt> (expanded from <orig>): reason" paragraph per
 *                  recipient, wrapped at 79 columns with a 4-space indent
 *   part 2         message/delivery-status "Delivery report": per-message
 *                  fields (Reporting-MTA, Original-Envelope-Id,
 *                  X-Postfix-Queue-ID, X-Postfix-Sender, Arrival-Date), then a
 *                  block per recipient (Final-Recipient, Original-Recipient,
 *                  Action, Status, Remote-MTA, Diagnostic-Code,
 *                  Last-Attempt-Date, Will-Retry-Until)
 *   part 3         message/rfc822 "Undelivered Message" or text/rfc822-headers
 *                  "Undelivered Message Headers" (message/global and
 *                  message/global-headers for SMTPUTF8 mail), preceded by a
 *                  Return-Path: header with the original sender
 *
 * Lines end in LF; cleanup takes LF or CRLF.
 */
import type { DeliveryLogRecord } from '@postern/core';

/** The vendor name in the X- fields and the default diagnostic type (Postfix's). */
export const DSN_VENDOR = 'Postfix';

/** Postfix's line_wrap(): break at blanks before `width` columns, indent continuation lines. */
export function lineWrap(text: string, width = 79, indent = 4): string[] {
  const out: string[] = [];
  let curIndent = 0;
  let curLen = width;
  let start = 0;
  let word = 0;
  const isSpace = (c: string | undefined) => c === ' ' || c === '\t';
  while (word >= 0) {
    let nextSpace = word;
    while (nextSpace < text.length && !isSpace(text[nextSpace])) nextSpace++;
    if (word > start && nextSpace - start > curLen) {
      let end = word;
      while (end > start && isSpace(text[end - 1])) end--;
      out.push(' '.repeat(curIndent) + text.slice(start, end));
      while (word < text.length && isSpace(text[word])) word++;
      if (start === 0) {
        curIndent += indent;
        curLen -= indent;
      }
      start = word;
    }
    word = nextSpace < text.length ? nextSpace + 1 : -1;
  }
  let end = text.length;
  while (end > start && isSpace(text[end - 1])) end--;
  out.push(' '.repeat(curIndent) + text.slice(start, end));
  return out;
}


import { mailDate } from '@postern/core';

export { mailDate };

/** Masks control characters (and non-ASCII unless `utf8`) with '?', as bounce_log_read() does. */
export function maskText(text: string, utf8: boolean): string {
   
  return text.replace(utf8 ? /[\x00-\x1f\x7f]/g : /[\x00-\x1f\x7f-\uffff]/g, '?');
}

const NON_ASCII = /[^\x00-\x7f]/;

export interface ReportHeaders {
  readonly from: string;
  readonly subject: string;
  readonly to: string;
  /** auto-replied to the sender, auto-generated for postmaster copies (RFC 3834). */
  readonly autoSubmitted: 'auto-replied' | 'auto-generated';
  readonly date: string;
  readonly messageId: string;
  /** The original Message-ID, for References/In-Reply-To (enable_threaded_bounces). */
  readonly references?: string;
}

export interface ReportOriginal {
  /** The original message (LF line ends), or undefined when it cannot be read. */
  readonly content: Buffer | undefined;
  /** text/rfc822-headers instead of message/rfc822. */
  readonly headersOnly: boolean;
  /** The original envelope sender, for Return-Path. */
  readonly sender: string;
}

export interface ReportInput {
  readonly headers: ReportHeaders;
  readonly boundary: string;
  /** The MIME encoding of the original (bounce_info->mime_encoding); undefined when unknown. */
  readonly mimeEncoding?: '7bit' | '8bit';
  /** The template's charset and encoding. */
  readonly charset: string;
  readonly templateEncoding: '7bit' | '8bit';
  /** The original message requested SMTPUTF8. */
  readonly smtputf8: boolean;
  /** Expanded template text; undefined for postmaster copies, which have none. */
  readonly boilerplate?: readonly string[];
  readonly reportingMta: string;
  readonly queueId: string;
  readonly envid?: string;
  /** The original sender as X-Postfix-Sender shows it (MAILER-DAEMON for the null sender). */
  readonly sender: string;
  readonly arrivalTime?: number;
  readonly recipients: readonly DeliveryLogRecord[];
  /** Failure notices report Action: failed whatever the log says. */
  readonly failure: boolean;
  /** Delay notices: the Will-Retry-Until time (ms). */
  readonly willRetryUntil?: number;
  /** "Undelivered " in part 3's description (failure and delay notices). */
  readonly undelivered: boolean;
  readonly original: ReportOriginal;
}

/** "rfc822; addr", or "utf-8; addr" for a UTF-8 address of SMTPUTF8 mail. */
function addrType(addr: string, smtputf8: boolean): string {
  return `${smtputf8 && NON_ASCII.test(addr) ? 'utf-8' : 'rfc822'}; ${addr}`;
}

/** "rfc822;user@example.com" (an ORCPT) is written as "rfc822; user@example.com". */
function orcptField(orcpt: string): string {
  const i = orcpt.indexOf(';');
  return i < 0 ? `rfc822; ${orcpt}` : `${orcpt.slice(0, i).trim()}; ${orcpt.slice(i + 1).trim()}`;
}

/** A header line is a field name and colon, or a continuation (Postfix's IS_HEADER). */
const HEADER_LINE = /^([ \t]|[!-9;-~]+[ \t]*:)/;

/** The header lines of `content` (up to the first line that is not a header). */
export function headerLines(content: Buffer): Buffer {
  let pos = 0;
  while (pos < content.length) {
    const nl = content.indexOf(0x0a, pos);
    const end = nl < 0 ? content.length : nl;
    const line = content.subarray(pos, end).toString('latin1');
    if (!HEADER_LINE.test(line)) break;
    pos = nl < 0 ? content.length : nl + 1;
  }
  return content.subarray(0, pos);
}

/** The notice, ready for cleanup. */
export function buildReport(input: ReportInput): Buffer {
  const lines: string[] = [];
  const h = input.headers;
  const enc = input.mimeEncoding;
  const not7bit = enc !== undefined && enc !== '7bit';
  const utf8 = not7bit;
  const mask = (t: string) => maskText(t, utf8);

  lines.push(`From: ${h.from}`, `Subject: ${h.subject}`, `To: ${maskText(h.to, true)}`);
  if (h.references) lines.push(`References: ${h.references}`, `In-Reply-To: ${h.references}`);
  lines.push(`Auto-Submitted: ${h.autoSubmitted}`, `Date: ${h.date}`, `Message-Id: ${h.messageId}`);
  lines.push('MIME-Version: 1.0', 'Content-Type: multipart/report; report-type=delivery-status;', `\tboundary="${input.boundary}"`);
  if (enc !== undefined) lines.push(`Content-Transfer-Encoding: ${enc === '7bit' ? input.templateEncoding : enc}`);
  lines.push('', 'This is a MIME-encapsulated message.', '');

  // Part 1: the human-readable notification.
  lines.push(`--${input.boundary}`, 'Content-Description: Notification');
  const charset = input.charset.toLowerCase() !== 'us-ascii' ? input.charset : not7bit ? 'utf-8' : 'us-ascii';
  lines.push(`Content-Type: text/plain; charset=${charset}`);
  if (not7bit) lines.push(`Content-Transfer-Encoding: ${enc}`);
  lines.push('');
  if (input.boilerplate) lines.push(...input.boilerplate);
  for (const r of input.recipients) {
    lines.push('');
    const who = r.original ? `<${r.recipient}> (expanded from <${r.original}>)` : `<${r.recipient}>`;
    lines.push(...lineWrap(mask(`${who}: ${r.reason}`)));
  }

  // Part 2: the machine-readable delivery status.
  lines.push('', `--${input.boundary}`, 'Content-Description: Delivery report');
  lines.push(`Content-Type: message/${input.smtputf8 ? 'global-' : ''}delivery-status`);
  if (not7bit && input.smtputf8) lines.push(`Content-Transfer-Encoding: ${enc}`);
  lines.push('', `Reporting-MTA: dns; ${input.reportingMta}`);
  if (input.envid) lines.push(`Original-Envelope-Id: ${mask(input.envid)}`);
  lines.push(`X-${DSN_VENDOR}-Queue-ID: ${input.queueId}`);
  lines.push(`X-${DSN_VENDOR}-Sender: ${mask(addrType(input.sender, input.smtputf8))}`);
  if (input.arrivalTime !== undefined && input.arrivalTime > 0) lines.push(`Arrival-Date: ${mailDate(input.arrivalTime)}`);
  for (const r of input.recipients) {
    lines.push('', `Final-Recipient: ${mask(addrType(r.recipient, input.smtputf8))}`);
    if (r.orcpt) lines.push(`Original-Recipient: ${mask(orcptField(r.orcpt))}`);
    else if (r.original) lines.push(`Original-Recipient: ${mask(addrType(r.original, input.smtputf8))}`);
    lines.push(`Action: ${input.failure ? 'failed' : mask(r.action)}`, `Status: ${mask(r.status)}`);
    if (r.remoteMta) lines.push(...lineWrap(mask(`Remote-MTA: ${r.remoteMta.includes(';') ? r.remoteMta : `dns; ${r.remoteMta}`}`)));
    const diagnostic = r.diagnostic && /^[^;\s]+;\s*\S/.test(r.diagnostic) ? r.diagnostic : `X-${DSN_VENDOR}; ${r.reason}`;
    lines.push(...lineWrap(mask(`Diagnostic-Code: ${diagnostic}`)));
    if (r.time > 0) lines.push(`Last-Attempt-Date: ${mailDate(r.time)}`);
    if (input.willRetryUntil !== undefined) lines.push(`Will-Retry-Until: ${mailDate(input.willRetryUntil)}`);
  }

  // Part 3: the original message or its headers.
  const orig = input.original;
  const what = orig.headersOnly ? 'Message Headers' : 'Message';
  lines.push('', `--${input.boundary}`, `Content-Description: ${input.undelivered ? 'Undelivered ' : ''}${what}`);
  if (input.smtputf8) lines.push(`Content-Type: message/${orig.headersOnly ? 'global-headers' : 'global'}`);
  else lines.push(`Content-Type: ${orig.headersOnly ? 'text/rfc822-headers' : 'message/rfc822'}`);
  if (not7bit) lines.push(`Content-Transfer-Encoding: ${enc}`);
  lines.push('');
  const tail = [''];
  tail.push(`--${input.boundary}--`, '');
  if (orig.content === undefined) {
    lines.push('\t--- Undelivered message unavailable ---');
    return Buffer.from(lines.concat(tail).join('\n'), 'utf8');
  }
  lines.push(`Return-Path: <${maskText(orig.sender, true)}>`, '');
  let body = orig.headersOnly ? headerLines(orig.content) : orig.content;
  if (body.length > 0 && body[body.length - 1] !== 0x0a) body = Buffer.concat([body, Buffer.from('\n')]);
  return Buffer.concat([Buffer.from(lines.join('\n'), 'utf8'), body, Buffer.from(tail.join('\n'), 'utf8')]);
}
