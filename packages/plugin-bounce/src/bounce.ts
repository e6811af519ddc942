/**
 * bounce(8), defer(8), trace(8) - Postfix delivery status reports
 *
 * SYNOPSIS
 *   master.cf: bounce unix - - n - 0 bounce
 *              defer  unix - - n - 0 bounce
 *              trace  unix - - n - 0 bounce
 *
 * DESCRIPTION
 *   The bounce daemon keeps the per-message delivery logs (bounce, defer
 *   and trace) in the queue store, and sends the delivery status
 *   notifications made from them. It serves two requests:
 *
 *   append(log, queueId, record)
 *     Appends one recipient's (non-)delivery record to the message's bounce,
 *     defer or trace log. Delivery agents call it through core's
 *     reportStatus().
 *
 *   notify(kind, queueId)
 *     Enqueues, through cleanup(8), an RFC 3464 multipart/report notice made
 *     from a log: "bounce" (non-delivery, from the bounce log, and from the
 *     defer log once the message has expired), "delay" (delay warning, from
 *     the defer log), "success" (DSN NOTIFY=SUCCESS, from the trace log) or
 *     "verify" (sendmail -bv/-v report, from the trace log). The notice is
 *     sent from the null sender to the message's sender; a notice about mail
 *     from the null sender goes to the postmaster as a double bounce, and
 *     notices about postmaster mail (from $double_bounce_sender) are dropped.
 *     DSN NOTIFY and RET are honoured per recipient. notify_classes adds
 *     postmaster copies. When a bounce or trace notice is queued, its log is
 *     deleted, so qmgr can delete the message. The text comes from the
 *     built-in bounce(5) templates or from bounce_template_file.
 *
 *   The three master.cf services run this same command: the log a request
 *   names, not the service it arrived on, selects the file.
 *
 * PROTOCOL
 *   Postern IPC on queue_directory/private/{bounce,defer,trace}: the
 *   BOUNCE_APPEND and BOUNCE_NOTIFY methods of contracts/bounce.ts. Notices
 *   enter the queue through the cleanup service (public/cleanup) with origin
 *   "bounce".
 *
 * STANDARDS
 *   RFC 3461 (DSN SMTP extension), RFC 3462/6522 (multipart/report),
 *   RFC 3463 (enhanced status codes), RFC 3464 (delivery status
 *   notifications), RFC 3834 (Auto-Submitted:), RFC 6533 (message/global-*).
 *
 * CONFIGURATION PARAMETERS
 *   bounce_size_limit (50000)             at most this much of the original is
 *                                         returned; larger: the headers only
 *   bounce_notice_recipient (postmaster)  gets copies of non-delivery notices
 *   2bounce_notice_recipient (postmaster) gets undeliverable bounces
 *   delay_notice_recipient (postmaster)   gets copies of delay warnings
 *   error_notice_recipient (postmaster)   declared for the other daemons'
 *                                         resource/software/protocol/policy notices
 *   notify_classes (resource, software)   bounce, 2bounce and delay are acted on here
 *   bounce_template_file (empty)          bounce(5) templates to use instead
 *   double_bounce_sender (double-bounce)  sender of postmaster notices
 *   enable_threaded_bounces (no)          References:/In-Reply-To: the original
 *   internal_mail_filter_classes (empty)  "bounce" subjects notices to header/body checks
 *   delay_warning_time (0h), maximal_queue_lifetime (5d),
 *   bounce_queue_lifetime (5d)            expiry and the delay notice's text
 *   myhostname, myorigin, mail_name, smtputf8_enable
 *   backwards_bounce_logfile_compatibility (yes) is accepted and ignored:
 *   the logs are queue-store records, not files other programs read.
 *
 * SECURITY
 *   The daemon reads queued mail and writes only through cleanup; log and
 *   reason text is masked (control characters, and non-ASCII text in 7-bit
 *   notices) before it goes into a notice. It runs unprivileged.
 */
import {
  CLEANUP,
  QUEUE_STORE,
  inject,
  injectable,
  serveBounce,
  type BounceService,
  type CleanupService,
  type ConfigView,
  type DeliveryLogName,
  type DeliveryLogRecord,
  type Logger,
  type NoticeKind,
  type NoticeResult,
  type QueueStore,
  type ServiceMain,
} from '@postern/core';
import { bounceAppend } from './bounce-append.js';
import { BounceNotifier } from './bounce-notify.js';
import { loadTemplates, type BounceTemplates } from './bounce-template.js';

export interface BounceServerOptions {
  readonly config: ConfigView;
  readonly log: Logger;
  readonly queue: QueueStore;
  readonly cleanup: CleanupService;
  /** Default: the built-in templates or bounce_template_file's. */
  readonly templates?: BounceTemplates;
  readonly now?: () => number;
}

/** The BounceService contract, as the bounce daemon implements it. */
export class BounceServer implements BounceService {
  private readonly queue: QueueStore;
  private readonly notifier: BounceNotifier;

  constructor(options: BounceServerOptions) {
    this.queue = options.queue;
    this.notifier = new BounceNotifier({
      config: options.config,
      log: options.log,
      queue: options.queue,
      cleanup: options.cleanup,
      templates: options.templates ?? loadTemplates(options.config, options.log),
      ...(options.now !== undefined && { now: options.now }),
    });
  }

  append(log: DeliveryLogName, queueId: string, record: DeliveryLogRecord): Promise<void> {
    return bounceAppend(this.queue, log, queueId, record);
  }

  notify(kind: NoticeKind, queueId: string): Promise<NoticeResult> {
    return this.notifier.notify(kind, queueId);
  }
}

/** What bounce takes from its container: the queue store and cleanup (bound in-process or to its client). */
@injectable()
export class BounceServices {
  constructor(
    @inject(QUEUE_STORE) readonly queue: QueueStore,
    @inject(CLEANUP) readonly cleanup: CleanupService,
  ) {}
}

/** The service entry. */
export const main: ServiceMain = async (ctx) => {
  const { queue, cleanup } = ctx.container.resolve(BounceServices);
  const server = new BounceServer({ config: ctx.config, log: ctx.log, queue, cleanup });
  return serveBounce(ctx, server);
};
