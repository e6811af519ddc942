/**
 * The notify request (Postfix's bounce_notify_service.c, bounce_warn_service.c
 * and bounce_trace_service.c): builds a delivery status notification from a
 * message's delivery log and hands it to cleanup as new mail.
 *
 *   bounce   non-delivery notice from the bounce log (plus, once the message
 *            has outlived maximal_queue_lifetime, or bounce_queue_lifetime for
 *            the null sender, the defer-log records of its pending recipients:
 *            Postfix's defer_flush). The logs are deleted once it is queued.
 *   delay    delay warning from the defer log, with the headers only; the log
 *            stays.
 *   success  NOTIFY=SUCCESS report from the trace log; deleted when queued.
 *   verify   sendmail -bv / -v report of every trace-log record; deleted when
 *            queued.
 *
 * Addressing: a notice goes to the sender from the null sender. Mail from the
 * null sender is a bounce: its failures go to the postmaster as a double
 * bounce (2bounce_notice_recipient, from double_bounce_sender) when
 * notify_classes has bounce or 2bounce; its delays to delay_notice_recipient
 * when notify_classes has delay; its trace reports to 2bounce_notice_recipient
 * when notify_classes has 2bounce. Mail from the double-bounce address is a
 * postmaster notice: its notices are discarded. With notify_classes bounce
 * (delay), a copy of every non-delivery (delay) notice with the headers only
 * goes to bounce_notice_recipient (delay_notice_recipient).
 */
import { randomBytes } from 'node:crypto';
import {
  DELIVERY_LOG,
  posternError,
  type CleanupRequest,
  type CleanupService,
  type ConfigView,
  type DeliveryLogRecord,
  type Logger,
  type NoticeKind,
  type NoticeResult,
  type QueueStore,
  type QueuedMessage,
} from '@postern/core';
import { buildReport, mailDate } from './bounce-dsn.js';
import { expiredRecipients, latestPerRecipient, selectRecipients, type NotifyFilter } from './bounce-recipients.js';
import { expandTemplate, type BounceTemplate, type BounceTemplates } from './bounce-template.js';

/** Postfix's MAIL_ADDR_MAIL_DAEMON: how the null sender is shown. */
export const MAIL_DAEMON = 'MAILER-DAEMON';

export interface NotifyDeps {
  readonly config: ConfigView;
  readonly log: Logger;
  readonly queue: QueueStore;
  readonly cleanup: CleanupService;
  readonly templates: BounceTemplates;
  /** The clock (ms); tests pass their own. */
  readonly now?: () => number;
}

/** One notice to queue. */
interface Notice {
  readonly template: BounceTemplate;
  /** Envelope sender: the null sender, or the double-bounce address for postmaster mail. */
  readonly from: string;
  readonly to: string;
  readonly postmasterCopy: boolean;
  readonly records: readonly DeliveryLogRecord[];
  readonly headersOnly: boolean;
  readonly boilerplate: boolean;
  readonly failure: boolean;
  readonly delay: boolean;
}

const KINDS: readonly NoticeKind[] = ['bounce', 'delay', 'success', 'verify'];

function lifetimeName(sender: string, doubleBounce: boolean): string {
  return sender === '' || doubleBounce ? 'bounce_queue_lifetime' : 'maximal_queue_lifetime';
}

export class BounceNotifier {
  private readonly config: ConfigView;
  private readonly log: Logger;
  private readonly queue: QueueStore;
  private readonly cleanup: CleanupService;
  private readonly templates: BounceTemplates;
  private readonly now: () => number;

  constructor(deps: NotifyDeps) {
    this.config = deps.config;
    this.log = deps.log;
    this.queue = deps.queue;
    this.cleanup = deps.cleanup;
    this.templates = deps.templates;
    this.now = deps.now ?? Date.now;
  }

  /** Sends the `kind` notice for message `queueId` (see the module header). */
  async notify(kind: NoticeKind, queueId: string): Promise<NoticeResult> {
    if (!KINDS.includes(kind)) throw posternError('POSTERN_ERR_IPC_PROTOCOL', 'bounce', `unknown notice kind "${String(kind)}"`);
    const message = await this.queue.get(queueId);
    if (!message) throw posternError('POSTERN_ERR_QUEUE_NOT_FOUND', queueId);
    switch (kind) {
      case 'bounce':
        return this.flushBounce(message);
      case 'delay':
        return this.warnDelay(message);
      default:
        return this.flushTrace(message, kind);
    }
  }

  // --- addresses -------------------------------------------------------

  /** Postfix's mail_addr_double_bounce(): $double_bounce_sender@$myhostname. */
  get doubleBounce(): string {
    return `${this.config.get('double_bounce_sender')}@${this.config.get('myhostname')}`;
  }

  /** True for the double-bounce address, bare or qualified with $myhostname or $myorigin. */
  isDoubleBounce(addr: string): boolean {
    const a = addr.toLowerCase();
    const local = this.config.get('double_bounce_sender').toLowerCase();
    return (
      a === local ||
      a === `${local}@${this.config.get('myhostname').toLowerCase()}` ||
      a === `${local}@${this.config.get('myorigin').toLowerCase()}`
    );
  }

  /** An unqualified address gets @$myorigin, as cleanup's rewriting would give it (append_at_myorigin). */
  qualify(addr: string): string {
    if (addr === '' || addr.includes('@')) return addr;
    const append = this.config.has('append_at_myorigin') ? this.config.bool('append_at_myorigin') : true;
    return append ? `${addr}@${this.config.get('myorigin')}` : addr;
  }

  private notifyClasses(): Set<string> {
    return new Set(this.config.list('notify_classes').map((c) => c.toLowerCase()));
  }

  // --- the three services ----------------------------------------------

  private async flushBounce(message: QueuedMessage): Promise<NoticeResult> {
    const id = message.id;
    const dbl = this.isDoubleBounce(message.sender);
    const bounced = await this.queue.readLog(DELIVERY_LOG.BOUNCE, id);
    const lifetime = this.config.time(lifetimeName(message.sender, dbl)) * 1000;
    const expired = this.now() >= message.arrivalTime + lifetime;
    const deferred = expired ? await this.queue.readLog(DELIVERY_LOG.DEFER, id) : [];
    const records = expired ? expiredRecipients(message, latestPerRecipient(bounced), deferred) : latestPerRecipient(bounced);
    if (records.length === 0) return { count: 0 };
    const done = async () => {
      await this.queue.deleteLog(DELIVERY_LOG.BOUNCE, id);
      if (expired) await this.queue.deleteLog(DELIVERY_LOG.DEFER, id);
    };
    const classes = this.notifyClasses();
    const failure = this.templates.failure;

    if (dbl) {
      this.log.warn(`${id}: undeliverable postmaster notification discarded`);
      await done();
      return { count: 0 };
    }
    if (message.sender === '') {
      if (!classes.has('bounce') && !classes.has('2bounce')) {
        await done();
        return { count: 0 };
      }
      const newId = await this.send(message, {
        template: failure,
        from: this.doubleBounce,
        to: this.config.get('2bounce_notice_recipient'),
        postmasterCopy: true,
        records: selectRecipients(records, 'OVERRIDE'),
        headersOnly: false,
        boilerplate: false,
        failure: true,
        delay: false,
      });
      this.log.info(`${id}: postmaster non-delivery notification: ${newId}`);
      await done();
      return { queueId: newId, count: records.length };
    }

    const selected = selectRecipients(records, 'FAILURE');
    let result: NoticeResult = { count: 0 };
    if (selected.length > 0) {
      const newId = await this.send(message, {
        template: failure,
        from: '',
        to: message.sender,
        postmasterCopy: false,
        records: selected,
        headersOnly: message.dsnRet === 'HDRS',
        boilerplate: true,
        failure: true,
        delay: false,
      });
      this.log.info(`${id}: sender non-delivery notification: ${newId}`);
      result = { queueId: newId, count: selected.length };
    }
    if (classes.has('bounce')) {
      await this.postmasterCopy(message, 'bounce_notice_recipient', failure, records, 'non-delivery', `bouncing to ${message.sender}`);
    }
    await done();
    return result;
  }

  private async warnDelay(message: QueuedMessage): Promise<NoticeResult> {
    const id = message.id;
    const pending = new Set(message.recipients.filter((r) => !r.done).map((r) => r.address.toLowerCase()));
    const records = latestPerRecipient(await this.queue.readLog(DELIVERY_LOG.DEFER, id)).filter((r) =>
      pending.has(r.recipient.toLowerCase()),
    );
    if (records.length === 0) return { count: 0 };
    const classes = this.notifyClasses();
    const delay = this.templates.delay;

    if (this.isDoubleBounce(message.sender)) {
      this.log.warn(`${id}: undeliverable postmaster notification discarded`);
      return { count: 0 };
    }
    if (message.sender === '') {
      if (!classes.has('delay')) return { count: 0 };
      const newId = await this.send(message, {
        template: delay,
        from: this.doubleBounce,
        to: this.config.get('delay_notice_recipient'),
        postmasterCopy: true,
        records,
        headersOnly: false,
        boilerplate: false,
        failure: false,
        delay: true,
      });
      this.log.info(`${id}: postmaster delay notification: ${newId}`);
      return { queueId: newId, count: records.length };
    }

    const selected = selectRecipients(records, 'DELAY');
    let result: NoticeResult = { count: 0 };
    if (selected.length > 0) {
      const newId = await this.send(message, {
        template: delay,
        from: '',
        to: message.sender,
        postmasterCopy: false,
        records: selected,
        headersOnly: true,
        boilerplate: true,
        failure: false,
        delay: true,
      });
      this.log.info(`${id}: sender delay notification: ${newId}`);
      result = { queueId: newId, count: selected.length };
    }
    if (classes.has('delay')) {
      await this.postmasterCopy(message, 'delay_notice_recipient', delay, records, 'delay', `warning ${message.sender}`);
    }
    return result;
  }

  private async flushTrace(message: QueuedMessage, kind: 'success' | 'verify'): Promise<NoticeResult> {
    const id = message.id;
    const nonDsn = kind === 'verify' || (message.traceFlags ?? []).some((f) => f === 'verify' || f === 'record');
    if (this.isDoubleBounce(message.sender)) {
      this.log.info(`${id}: not sending trace/success notification for double-bounce message`);
      return { count: 0 };
    }
    let from = '';
    let to = message.sender;
    if (message.sender === '') {
      if (!this.notifyClasses().has('2bounce')) {
        this.log.info(`${id}: not sending trace/success notification for single-bounce message`);
        await this.queue.deleteLog(DELIVERY_LOG.TRACE, id);
        return { count: 0 };
      }
      from = this.doubleBounce;
      to = this.config.get('2bounce_notice_recipient');
    }
    const records = await this.queue.readLog(DELIVERY_LOG.TRACE, id);
    if (records.length === 0) return { count: 0 };
    const filter: NotifyFilter = nonDsn ? 'OVERRIDE' : 'SUCCESS';
    const selected = nonDsn ? latestPerRecipient(records) : selectRecipients(records, filter);
    let result: NoticeResult = { count: 0 };
    if (selected.length > 0) {
      const newId = await this.send(message, {
        template: nonDsn ? this.templates.verify : this.templates.success,
        from,
        to,
        postmasterCopy: false,
        records: selected,
        headersOnly: true,
        boilerplate: true,
        failure: false,
        delay: false,
      });
      this.log.info(`${id}: sender delivery status notification: ${newId}`);
      result = { queueId: newId, count: selected.length };
    }
    await this.queue.deleteLog(DELIVERY_LOG.TRACE, id);
    return result;
  }

  /** A postmaster copy (headers only, every recipient); a failure is only logged, as Postfix does. */
  private async postmasterCopy(
    message: QueuedMessage,
    param: string,
    template: BounceTemplate,
    records: readonly DeliveryLogRecord[],
    what: string,
    during: string,
  ): Promise<void> {
    try {
      const newId = await this.send(message, {
        template,
        from: this.doubleBounce,
        to: this.config.get(param),
        postmasterCopy: true,
        records: selectRecipients(records, 'OVERRIDE'),
        headersOnly: true,
        boilerplate: false,
        failure: template.class === 'failure',
        delay: template.class === 'delay',
      });
      this.log.info(`${message.id}: postmaster ${what} notification: ${newId}`);
    } catch (err) {
      this.log.warn(`${message.id}: postmaster notice failed while ${during}: ${(err as Error).message}`);
    }
  }

  // --- building and queueing -------------------------------------------

  /** The original message, CRLF turned into LF; undefined when it cannot be read. */
  private async readOriginal(message: QueuedMessage, headersOnly: boolean): Promise<Buffer | undefined> {
    const chunks: Buffer[] = [];
    try {
      for await (const chunk of this.queue.readContent(message.id)) {
        chunks.push(chunk);
        // Headers only: stop reading at the end of the header.
        if (headersOnly && chunk.includes(0x0a)) {
          const sofar = Buffer.concat(chunks);
          if (sofar.includes('\n\n') || sofar.includes('\n\r\n')) break;
        }
      }
    } catch (err) {
      this.log.warn(`${message.id}: read message file: ${(err as Error).message}`);
      return undefined;
    }
    return toLf(Buffer.concat(chunks));
  }

  private mimeEncoding(message: QueuedMessage, content: Buffer | undefined): '7bit' | '8bit' | undefined {
    if (this.config.has('smtputf8_enable') && this.config.bool('smtputf8_enable')) return '8bit';
    if (message.bodyType === '8BITMIME' || message.bodyType === 'BINARYMIME') return '8bit';
    if (message.bodyType === '7BIT') return '7bit';
    return content !== undefined && content.some((b) => b >= 0x80) ? '8bit' : undefined;
  }

  private async send(message: QueuedMessage, notice: Notice): Promise<string> {
    const now = this.now();
    const myhostname = this.config.get('myhostname');
    const limit = this.config.size('bounce_size_limit');
    const headersOnly = notice.headersOnly || (limit > 0 && (message.size <= 0 || message.size > limit));
    const content = await this.readOriginal(message, headersOnly);
    const enc = this.mimeEncoding(message, content);
    const tpl = notice.template;
    const threaded = this.config.has('enable_threaded_bounces') && this.config.bool('enable_threaded_bounces');
    const references = threaded && message.messageId && /^<.*>$/.test(message.messageId.trim()) ? message.messageId.trim() : undefined;
    const origSender = message.sender === '' ? MAIL_DAEMON : message.sender;
    const to = this.qualify(notice.to);
    const body = buildReport({
      headers: {
        from: qualifyFrom(tpl.from, (a) => this.qualify(a)),
        subject: notice.postmasterCopy && tpl.postmasterSubject ? tpl.postmasterSubject : tpl.subject,
        to: quoteAddress(to),
        autoSubmitted: notice.postmasterCopy ? 'auto-generated' : 'auto-replied',
        date: mailDate(now),
        messageId: `<${stamp(now)}.${message.id}.${randomBytes(4).toString('hex')}@${myhostname}>`,
        ...(references !== undefined && { references }),
      },
      boundary: `${message.id}.${Math.floor(now / 1000)}/${myhostname}`,
      ...(enc !== undefined && { mimeEncoding: enc }),
      charset: tpl.charset,
      templateEncoding: tpl.encoding,
      smtputf8: message.smtputf8 === true,
      ...(notice.boilerplate && { boilerplate: expandTemplate(tpl, this.config, (w) => this.log.warn(w)) }),
      reportingMta: myhostname,
      queueId: message.id,
      ...(message.dsnEnvid && { envid: message.dsnEnvid }),
      sender: origSender,
      arrivalTime: message.arrivalTime,
      recipients: notice.records,
      failure: notice.failure,
      ...(notice.delay && { willRetryUntil: message.arrivalTime + this.config.time('maximal_queue_lifetime') * 1000 }),
      undelivered: notice.failure || notice.delay,
      original: { content, headersOnly, sender: origSender },
    });
    const filterClasses = this.config.has('internal_mail_filter_classes') ? this.config.list('internal_mail_filter_classes') : [];
    const request: CleanupRequest = {
      sender: notice.from,
      recipients: [{ address: to }],
      origin: 'bounce',
      flags: { noHeaderBodyChecks: !filterClasses.includes('bounce'), noBccMaps: true },
      ...(enc === '8bit' ? { bodyType: '8BITMIME' as const } : enc === '7bit' ? { bodyType: '7BIT' as const } : {}),
      ...(message.smtputf8 && { smtputf8: true }),
    };
    const what = notice.failure ? 'non-delivery' : notice.delay ? 'delay' : 'delivery status';
    let result;
    try {
      result = await this.cleanup.submit(request, once(body));
    } catch (err) {
      throw posternError('POSTERN_ERR_BOUNCE_NOTICE', message.id, what, (err as Error).message, err);
    }
    if (result.status !== 'queued' && result.status !== 'discarded') {
      throw posternError('POSTERN_ERR_BOUNCE_NOTICE', message.id, what, `${result.code} ${result.dsn} ${result.text}`);
    }
    return result.queueId;
  }
}

async function* once(body: Buffer): AsyncIterable<Buffer> {
  yield body;
}

/** CRLF to LF, other bytes untouched. */
export function toLf(buf: Buffer): Buffer {
  if (!buf.includes('\r\n')) return buf;
  const out = Buffer.allocUnsafe(buf.length);
  let n = 0;
  for (let i = 0; i < buf.length; i++) {
    const b = buf[i] as number;
    if (b === 0x0d && buf[i + 1] === 0x0a) continue;
    out[n++] = b;
  }
  return out.subarray(0, n);
}

/** YYYYMMDDhhmmss in UTC, for Message-Ids. */
function stamp(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:T]/g, '').slice(0, 14);
}

/** Postfix's quote_822_local(): quotes a local part that is not a dot-atom. */
export function quoteAddress(addr: string): string {
  const at = addr.lastIndexOf('@');
  const local = at < 0 ? addr : addr.slice(0, at);
  const domain = at < 0 ? '' : addr.slice(at);
  if (local === '' || /^[^\s()<>@,;:\\".[\]]+(\.[^\s()<>@,;:\\".[\]]+)*$/.test(local)) return addr;
  return `"${local.replace(/(["\\])/g, '\\$1')}"${domain}`;
}

/** Qualifies the address of a template's From: ("Name <addr>" or "addr (Name)"). */
export function qualifyFrom(from: string, qualify: (addr: string) => string): string {
  const angle = /<([^<>@]+)>/.exec(from);
  if (angle) return from.replace(angle[0], `<${qualify(angle[1] as string)}>`);
  const bare = /^([^\s<>()@"]+)(\s*\(.*\))?$/.exec(from.trim());
  if (bare) return `${qualify(bare[1] as string)}${bare[2] ?? ''}`;
  return from;
}
