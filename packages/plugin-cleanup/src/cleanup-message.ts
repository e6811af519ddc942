/**
 * cleanup(8) message content (Postfix's cleanup_message.c and mime_state.c):
 * the content streams in as chunks with LF or CRLF line ends and is written
 * to the queue with LF line ends.
 *
 * Primary headers are assembled one logical header at a time (continuation
 * lines joined, at most header_size_limit bytes; the excess is discarded),
 * checked with header_checks / mime_header_checks, their addresses rewritten
 * (From:, To:, Cc: ...: trivial-rewrite, canonical maps, masquerading),
 * Resent- headers noticed, Received: headers counted, headers in
 * message_drop_headers removed. At the end of the headers the missing
 * (Resent-)Message-Id:, Date:, From: and undisclosed_recipients_header are
 * added.
 *
 * The body goes line by line through a small MIME tracker only when a body
 * or MIME check is configured: MIME part headers meet mime_header_checks,
 * headers of attached messages nested_header_checks, body lines body_checks
 * (the first body_checks_size_limit bytes of each part), and the strict_*
 * MIME checks of cleanup-mime.ts see the headers, Content-Transfer-Encoding
 * of each part and the body lines. Otherwise the body is passed through in
 * chunks, so memory stays bounded either way. With
 * disable_mime_input_processing = yes everything after the primary headers
 * is body.
 */
import type { Logger, LookupTable, RewriteContext } from '@postern/core';
import { decodeLine as decode, mapsFind, quoteLocalPart, unquoteLocalPart } from '@postern/address';
import { cleanupAct, type ActContext, type ActState } from './cleanup-act.js';
import type { AddressMapper } from './cleanup-addr.js';
import { badEncodingDomain, has8bit, loggable, MIME_ERR_8BIT_IN_7BIT_BODY, MIME_ERR_8BIT_IN_HEADER, MIME_ERR_ENCODING_DOMAIN, mimeErrorReason, mimeErrorText, SEVEN_BIT, transferEncoding, type StrictMime, type TransferEncoding } from './cleanup-mime.js';
import { contentType, findAddresses, headerInfo, headerName, headerValue, rewriteAddresses } from './cleanup-header.js';

const LF = 0x0a;
const CR = 0x0d;
const FLUSH_AT = 64 * 1024;
/** A body line longer than this is handled in pieces (line_length_limit works the same way in Postfix). */
const MAX_PENDING_LINE = 256 * 1024;

export interface MessageChecks {
  readonly header: readonly LookupTable[];
  readonly mime: readonly LookupTable[];
  readonly nested: readonly LookupTable[];
  readonly body: readonly LookupTable[];
}

export interface MessageOptions {
  readonly log: Logger;
  readonly mapper: AddressMapper;
  /** Header/body checks, or undefined when they are off for this message. */
  readonly checks?: MessageChecks;
  /** strict_7bit_headers etc., or undefined when none applies to this message. */
  readonly strict?: StrictMime;
  /** disable_mime_input_processing: no multipart or message/rfc822 structure. */
  readonly disableMime?: boolean;
  /** Header address rewriting context; undefined = no header rewriting. */
  readonly headerContext?: RewriteContext;
  /** Canonical mapping and masquerading of header addresses. */
  readonly mapHeaders: boolean;
  /** Add missing From:/Date:/Message-Id:/To: headers. */
  readonly addMissing: boolean;
  readonly headerSizeLimit: number;
  readonly bodyChecksSizeLimit: number;
  readonly messageSizeLimit: number;
  readonly dropHeaders: ReadonlySet<string>;
  readonly myhostname: string;
  readonly undisclosedHeader: string;
  readonly fromFormat: string;
  /** Envelope sender after rewriting ("" for the null sender). */
  readonly sender: string;
  readonly fullName?: string;
  readonly arrivalTime: number;
  readonly extractRecipients: boolean;
  /** Receives the output (LF line ends). */
  readonly out: (data: Buffer) => void;
}

interface Line {
  readonly buf: Buffer;
  readonly text: string;
}

type HeaderClass = 'primary' | 'multipart' | 'nested';


/** Logical header being assembled. */
interface PendingHeader {
  readonly lines: Buffer[];
  text: string;
  truncated: boolean;
}

export class CleanupMessage {
  /** Content bytes received. */
  size = 0;
  tooBig = false;
  /** Received: headers seen. */
  hops = 0;
  messageId?: string;
  /** Recipients from To:/Cc:/Bcc: and from Resent-To:/Resent-Cc:/Resent-Bcc: (sendmail -t). */
  readonly extracted: string[] = [];
  readonly extractedResent: string[] = [];
  /** Resent- headers seen: "Resent-" or "". */
  resent = '';

  private phase: 'headers' | 'body' = 'headers';
  private lineMode: boolean;
  private pending: Buffer = Buffer.alloc(0);
  private heldCR = false;
  private header: PendingHeader | undefined;
  private readonly seen = new Set<string>();
  private primaryType = { type: 'text/plain' } as { type: string; boundary?: string };
  private outBuf: Buffer[] = [];
  private outLen = 0;
  // MIME tracker
  private mimeState: 'body' | 'part-headers' | 'nested-headers' = 'body';
  private readonly boundaries: string[] = [];
  private partType: { type: string; boundary?: string } = { type: 'text/plain' };
  private partDefault = 'text/plain';
  private bodyOffset = 0;
  /** Content-Transfer-Encoding of the current entity. */
  private encoding: TransferEncoding = SEVEN_BIT;
  /** MIME_ERR_* bits found so far. */
  private mimeErrors = 0;

  constructor(
    private readonly opts: MessageOptions,
    private readonly state: ActState,
  ) {
    const c = opts.checks;
    this.lineMode = (!!c && (c.body.length > 0 || c.mime.length > 0 || c.nested.length > 0)) || !!opts.strict;
  }

  /** Stops processing: the message is rejected or discarded (the rest of the input is only counted). */
  private get stopped(): boolean {
    return this.tooBig || this.state.reason !== undefined || this.state.discard;
  }

  async write(chunk: Buffer): Promise<void> {
    this.size += chunk.length;
    if (this.opts.messageSizeLimit > 0 && this.size > this.opts.messageSizeLimit) this.tooBig = true;
    if (this.stopped) return;
    if (this.phase === 'body' && !this.lineMode) return this.passThrough(chunk);
    let data = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    let start = 0;
    for (;;) {
      const lf = data.indexOf(LF, start);
      if (lf < 0) break;
      const end = lf > start && data[lf - 1] === CR ? lf - 1 : lf;
      await this.line(data.subarray(start, end));
      start = lf + 1;
      if (this.stopped) {
        this.pending = Buffer.alloc(0);
        return;
      }
      if (this.phase === 'body' && !this.lineMode) {
        this.pending = Buffer.alloc(0);
        return this.passThrough(data.subarray(start));
      }
    }
    data = data.subarray(start);
    if (data.length > MAX_PENDING_LINE && this.phase === 'body') {
      // A very long body line: check and write it in pieces.
      await this.line(data, true);
      data = Buffer.alloc(0);
    }
    this.pending = data.length && data.length > MAX_PENDING_LINE ? Buffer.from(data.subarray(0, MAX_PENDING_LINE)) : Buffer.from(data);
  }

  /** Finishes the content: the last line without a line end, then the end of headers if still in them. */
  async end(): Promise<void> {
    if (this.stopped) return;
    if (this.pending.length) {
      const last = this.pending[this.pending.length - 1] === CR ? this.pending.subarray(0, -1) : this.pending;
      this.pending = Buffer.alloc(0);
      await this.line(last);
    }
    if (this.heldCR) {
      this.emit(Buffer.from([CR]));
      this.heldCR = false;
    }
    if (this.phase === 'headers') {
      await this.flushHeader();
      await this.endOfHeaders(false);
    } else if (this.header) {
      await this.flushHeader();
    }
    this.flushOut();
    // A MIME error rejects the message at its end, unless a check has given a reason already.
    if (this.mimeErrors && this.state.reason === undefined) this.state.reason = mimeErrorReason(this.mimeErrors);
  }

  /** Notes a MIME error and logs it, once per kind (cleanup_mime_error_callback). */
  private mimeError(code: number, text: string): void {
    if (this.mimeErrors & code) return;
    this.mimeErrors |= code;
    const s = this.state;
    this.opts.log.info(
      `${s.queueId}: reject: mime-error ${mimeErrorText(code)}: ${text} from ${s.logOrigin}; from=<${s.sender}> to=<${s.firstRecipient ?? 'unknown'}>`,
    );
  }

  private passThrough(chunk: Buffer): void {
    if (chunk.length === 0) return;
    const parts: Buffer[] = [];
    let start = 0;
    if (this.heldCR) {
      this.heldCR = false;
      if (chunk[0] !== LF) parts.push(Buffer.from([CR]));
    }
    for (let i = chunk.indexOf(CR); i >= 0; i = chunk.indexOf(CR, i + 1)) {
      if (i === chunk.length - 1) {
        parts.push(chunk.subarray(start, i));
        start = chunk.length;
        this.heldCR = true;
        break;
      }
      if (chunk[i + 1] === LF) {
        parts.push(chunk.subarray(start, i));
        start = i + 1;
      }
    }
    parts.push(chunk.subarray(start));
    for (const p of parts) if (p.length) this.emit(p);
  }

  private emit(data: Buffer): void {
    this.outBuf.push(data);
    this.outLen += data.length;
    if (this.outLen >= FLUSH_AT) this.flushOut();
  }

  private emitLine(text: string | Buffer): void {
    this.emit(typeof text === 'string' ? Buffer.from(`${text}\n`) : Buffer.concat([text, Buffer.from('\n')]));
  }

  flushOut(): void {
    if (this.outBuf.length === 0) return;
    const data = this.outBuf.length === 1 ? this.outBuf[0]! : Buffer.concat(this.outBuf);
    this.outBuf = [];
    this.outLen = 0;
    this.opts.out(data);
  }

  private async line(buf: Buffer, fragment = false): Promise<void> {
    const line: Line = { buf, text: decode(buf) };
    if (this.phase === 'headers') return this.primaryHeaderLine(line);
    return this.bodyLine(line, fragment);
  }

  // ---- header assembly -------------------------------------------------

  private addToHeader(line: Line): void {
    const h = this.header!;
    if (h.truncated) return;
    if (h.text.length + 1 + line.text.length > this.opts.headerSizeLimit) {
      h.truncated = true;
      const room = this.opts.headerSizeLimit - h.text.length - 1;
      if (room > 0) h.text += `\n${line.text.slice(0, room)}`;
      return;
    }
    h.lines.push(line.buf);
    h.text += `\n${line.text}`;
  }

  private startHeader(line: Line): void {
    const truncated = line.text.length > this.opts.headerSizeLimit;
    this.header = {
      lines: [line.buf],
      text: truncated ? line.text.slice(0, this.opts.headerSizeLimit) : line.text,
      truncated,
    };
  }

  private async primaryHeaderLine(line: Line): Promise<void> {
    const t = line.text;
    if (this.header && (t.startsWith(' ') || t.startsWith('\t'))) return this.addToHeader(line);
    await this.flushHeader();
    if (t === '') return this.endOfHeaders(true);
    if (headerName(t) !== undefined) return this.startHeader(line);
    // Not a header: the headers end here and this line starts the body.
    await this.endOfHeaders(true);
    return this.bodyLine(line, false);
  }

  private async flushHeader(): Promise<void> {
    const h = this.header;
    if (!h) return;
    this.header = undefined;
    const cls: HeaderClass =
      this.phase === 'headers' ? 'primary' : this.mimeState === 'nested-headers' ? 'nested' : 'multipart';
    await this.processHeader(h, cls);
  }

  // ---- one logical header ----------------------------------------------

  private async processHeader(h: PendingHeader, cls: HeaderClass): Promise<void> {
    let text = h.text;
    let raw: Buffer | undefined = h.truncated ? undefined : Buffer.concat(h.lines.flatMap((b, i) => (i ? [Buffer.from('\n'), b] : [b])));
    let name = headerName(text)!;
    let info = headerInfo(name);
    if (!this.opts.disableMime && info?.name === 'Content-Transfer-Encoding') {
      this.encoding = transferEncoding(headerValue(text)) ?? this.encoding;
    }
    if (this.opts.strict?.headers8bit && h.lines.some(has8bit)) {
      this.mimeError(MIME_ERR_8BIT_IN_HEADER, loggable(Buffer.concat(h.lines.flatMap((b, i) => (i ? [Buffer.from('\n'), b] : [b])))));
    }
    const checks = this.opts.checks;
    if (checks) {
      const [tables, title] =
        info?.mime || cls === 'multipart'
          ? [checks.mime, 'mime_header_checks']
          : cls === 'nested'
            ? [checks.nested, 'nested_header_checks']
            : [checks.header, 'header_checks'];
      const hit = tables.length ? await mapsFind(tables, text) : undefined;
      if (hit) {
        const outcome = this.act('header', text, hit.value, title);
        if (outcome.prepend) this.emitLine(outcome.prepend);
        if (outcome.drop) return;
        if (outcome.replace !== undefined) {
          text = outcome.replace;
          raw = undefined;
          name = headerName(text)!;
          info = headerInfo(name);
        }
        if (this.stopped) return;
      }
    }

    if (cls !== 'primary') {
      if (info?.name === 'Content-Type') this.partType = contentType(headerValue(text));
      this.emitLine(raw ?? text);
      return;
    }

    const lower = name.toLowerCase();
    this.seen.add(lower);
    const value = headerValue(text);
    if (lower === 'message-id') {
      this.messageId = value;
      this.opts.log.info(`${this.state.queueId}: message-id=${value}`);
    } else if (lower === 'resent-message-id') {
      this.opts.log.info(`${this.state.queueId}: resent-message-id=${value}`);
    } else if (lower === 'received') {
      this.hops++;
    } else if (lower === 'content-type') {
      this.primaryType = contentType(value);
    }
    if (info?.resent) this.resent = 'Resent-';

    if (info?.extract && this.opts.extractRecipients) {
      const list = info.resent ? this.extractedResent : this.extracted;
      for (const span of findAddresses(value)) list.push(unquoteLocalPart(span.text));
    }

    if (this.opts.headerContext && (info?.sender || info?.recipient)) {
      const role = info.sender ? 'header_sender' : 'header_recipient';
      const ctx = this.opts.headerContext;
      const colon = text.indexOf(':');
      const rewritten = await rewriteAddresses(text.slice(colon + 1), async (addr) => {
        const internal = unquoteLocalPart(addr);
        if (internal === '') return addr;
        let mapped = await this.opts.mapper.rewrite(ctx, internal);
        if (this.opts.mapHeaders) mapped = await this.opts.mapper.mapAddress(this.state.queueId, mapped, role);
        return mapped === internal ? addr : quoteLocalPart(mapped);
      });
      if (rewritten !== undefined) {
        text = text.slice(0, colon + 1) + rewritten;
        raw = undefined;
      }
    }

    if (this.opts.dropHeaders.has(lower)) return;
    this.emitLine(raw ?? text);
  }

  private act(context: ActContext, content: string, value: string, title: string) {
    return cleanupAct(this.opts.log, this.state, context, content, value, title);
  }

  // ---- end of the primary headers -------------------------------------

  private async endOfHeaders(blankLine: boolean): Promise<void> {
    if (this.phase !== 'headers') return;
    this.phase = 'body';
    const o = this.opts;
    const id = this.state.queueId;
    const resent = this.resent;
    if (o.addMissing && !this.seen.has(`${resent.toLowerCase()}message-id`)) {
      const stamp = new Date(o.arrivalTime).toISOString().replace(/[-:T]/g, '').slice(0, 14);
      const mid = `<${stamp}.${id}@${o.myhostname}>`;
      this.emitLine(`${resent}Message-Id: ${mid}`);
      o.log.info(`${id}: ${resent ? 'resent-' : ''}message-id=${mid}`);
      this.seen.add(`${resent.toLowerCase()}message-id`);
      if (!resent) this.messageId = mid;
    }
    if (!this.seen.has('message-id')) o.log.info(`${id}: message-id=<>`);
    if (o.addMissing && !this.seen.has(`${resent.toLowerCase()}date`)) {
      this.emitLine(`${resent}Date: ${mailDate(o.arrivalTime)}`);
    }
    if (o.addMissing && !this.seen.has(`${resent.toLowerCase()}from`)) {
      this.emitLine(`${resent}From: ${fromHeader(o.sender, o.fullName, o.fromFormat)}`);
    }
    const visible = ['to', 'resent-to', 'cc', 'resent-cc'].some((n) => this.seen.has(n));
    if (o.addMissing && !visible && o.undisclosedHeader) {
      if (headerName(o.undisclosedHeader) === undefined)
        o.log.warn(`bad undisclosed_recipients_header header text "${o.undisclosedHeader}" -- need "headername: headervalue"`);
      else this.emitLine(o.undisclosedHeader);
    }
    // A body that starts without the empty line gets one, so the message stays well-formed.
    if (blankLine) this.emitLine('');
    if (o.disableMime) return;
    this.checkEncodingDomain(this.primaryType.type);
    if (this.primaryType.type.startsWith('multipart/') && this.primaryType.boundary) {
      this.boundaries.push(this.primaryType.boundary);
      this.partDefault = this.primaryType.type === 'multipart/digest' ? 'message/rfc822' : 'text/plain';
      this.encoding = SEVEN_BIT;
    } else if (this.primaryType.type === 'message/rfc822') {
      this.mimeState = 'nested-headers';
      this.partType = { type: 'text/plain' };
      this.encoding = SEVEN_BIT;
    }
  }

  /** strict_mime_encoding_domain, at the end of each header block. */
  private checkEncodingDomain(type: string): void {
    if (this.opts.strict?.encodingDomain && badEncodingDomain(type, this.encoding)) {
      this.mimeError(MIME_ERR_ENCODING_DOMAIN, this.encoding.encoding);
    }
  }

  // ---- body ---------------------------------------------------------------

  private async bodyLine(line: Line, fragment: boolean): Promise<void> {
    if (this.mimeState !== 'body') {
      const t = line.text;
      if (this.header && (t.startsWith(' ') || t.startsWith('\t'))) return this.addToHeader(line);
      await this.flushHeader();
      if (this.stopped) return;
      if (t === '') {
        this.emitLine(line.buf);
        this.endOfPartHeaders();
        return;
      }
      if (headerName(t) !== undefined && !fragment) return this.startHeader(line);
      this.endOfPartHeaders();
    }

    const t = line.text;
    if (this.opts.strict?.body8bit && this.encoding.encoding === '7bit' && has8bit(line.buf)) {
      this.mimeError(MIME_ERR_8BIT_IN_7BIT_BODY, loggable(line.buf));
    }
    if (this.boundaries.length && t.startsWith('--')) {
      for (let k = this.boundaries.length - 1; k >= 0; k--) {
        const b = `--${this.boundaries[k]}`;
        if (!t.startsWith(b)) continue;
        const rest = t.slice(b.length);
        if (/^--\s*$/.test(rest)) {
          this.boundaries.length = k;
          this.mimeState = 'body';
        } else if (/^\s*$/.test(rest)) {
          this.boundaries.length = k + 1;
          this.mimeState = 'part-headers';
          this.partType = { type: this.partDefault };
        } else continue;
        this.bodyOffset = 0;
        this.encoding = SEVEN_BIT;
        this.emitLine(line.buf);
        return;
      }
    }

    const body = this.opts.checks?.body;
    if (body && body.length && (this.opts.bodyChecksSizeLimit === 0 || this.bodyOffset < this.opts.bodyChecksSizeLimit)) {
      this.bodyOffset += line.buf.length + 1;
      const hit = await mapsFind(body, t);
      if (hit) {
        const outcome = this.act('body', t, hit.value, 'body_checks');
        if (outcome.prepend) this.emitLine(outcome.prepend);
        if (outcome.drop) return;
        if (outcome.replace !== undefined) return this.emitLine(outcome.replace);
      }
    } else {
      this.bodyOffset += line.buf.length + 1;
    }
    if (fragment) this.emit(line.buf);
    else this.emitLine(line.buf);
  }

  private endOfPartHeaders(): void {
    const pt = this.partType;
    this.checkEncodingDomain(pt.type);
    if (pt.type.startsWith('multipart/') && pt.boundary) {
      this.boundaries.push(pt.boundary);
      this.partDefault = pt.type === 'multipart/digest' ? 'message/rfc822' : 'text/plain';
      this.mimeState = 'body';
      this.encoding = SEVEN_BIT;
    } else if (pt.type === 'message/rfc822' && this.mimeState === 'part-headers') {
      this.mimeState = 'nested-headers';
      this.partType = { type: 'text/plain' };
      this.encoding = SEVEN_BIT;
    } else {
      this.mimeState = 'body';
    }
    this.bodyOffset = 0;
  }
}

import { mailDate } from '@postern/address';

export { mailDate };

/** The added From: header value (header_from_format standard or obsolete). */
export function fromHeader(sender: string, fullName: string | undefined, format: string): string {
  const addr = quoteLocalPart(sender || 'MAILER-DAEMON');
  if (!sender || !fullName) return addr;
  if (format === 'obsolete') return `${addr} (${fullName.replace(/[()\\]/g, '\\$&')})`;
  const phrase = /^[\w!#$%&'*+\-/=?^`{|}~ .]*$/.test(fullName) && !/^\.|\.$|\.\./.test(fullName)
    ? fullName
    : `"${fullName.replace(/["\\]/g, '\\$&')}"`;
  return `${phrase} <${addr}>`;
}
