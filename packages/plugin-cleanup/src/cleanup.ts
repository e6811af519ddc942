/**
 * cleanup - Postfix-compatible canonicalize and enqueue
 *
 * SYNOPSIS
 *   master.cf:  cleanup  unix  n  -  n  -  0  cleanup
 *
 * DESCRIPTION
 *   The cleanup daemon is the one way into the queue. smtpd(8), qmqpd(8),
 *   pickup(8), bounce(8) and local(8) hand it a message through the
 *   `cleanup` contract (CleanupService) on queue_directory/public/cleanup.
 *   For each message it:
 *
 *   - opens a queue file and reports the queue ID at once (or takes the
 *     long queue ID the client made, request.queueId: smtpd makes its own
 *     so the content need not wait for cleanup's answer);
 *   - rewrites the envelope sender and recipients to user@domain form
 *     (trivial-rewrite, local context), applies canonical_maps,
 *     sender_canonical_maps, recipient_canonical_maps (per
 *     canonical_classes, sender_canonical_classes,
 *     recipient_canonical_classes), masquerade_domains (per
 *     masquerade_classes, masquerade_exceptions), and expands recipients
 *     with virtual_alias_maps (recursively, within
 *     virtual_alias_recursion_limit and virtual_alias_expansion_limit,
 *     duplicates removed);
 *   - adds always_bcc, sender_bcc_maps and recipient_bcc_maps recipients;
 *   - streams the content, LF or CRLF line ends, into the queue with LF
 *     line ends: headers one at a time (header_size_limit), with
 *     header_checks, mime_header_checks, nested_header_checks and
 *     body_checks (REJECT, WARN, INFO, DISCARD, HOLD, REDIRECT, FILTER, BCC,
 *     IGNORE, PREPEND, REPLACE, DUNNO, OK), header address rewriting for
 *     local_header_rewrite_clients (or remote_header_rewrite_domain),
 *     removal of message_drop_headers (Bcc:, Return-Path: ...), and adds a
 *     missing (Resent-)Message-Id:, Date:, From: and
 *     undisclosed_recipients_header; with sendmail -t it takes recipients
 *     from (Resent-)To:, Cc: and Bcc:;
 *   - with strict_7bit_headers, strict_8bitmime_body, strict_8bitmime or
 *     strict_mime_encoding_domain, rejects 8-bit headers, 8-bit data in a
 *     7bit body part, or a bad multipart/message encoding (550 5.6.0,
 *     logged as `ID: reject: mime-error ...`); not with
 *     disable_mime_input_processing = yes;
 *   - enforces message_size_limit (552 5.3.4) and hopcount_limit
 *     (554 5.4.0);
 *   - commits the queue file durably into incoming (hold for HOLD or the
 *     hold flag), then triggers qmgr (I). It logs `ID: message-id=<...>`.
 *
 * PROTOCOL
 *   Postern IPC (core's serveCleanup): method `submit` with the request and
 *   the message content as the call's body; the queue ID is sent as an
 *   interim event, unless the client made it; the answer is a CleanupResult
 *   (250 2.0.0 Ok: queued as ID; 550/552/554 rejects; 451 4.3.0 Error:
 *   queue file write error).
 *
 * CONFIGURATION PARAMETERS
 *   canonical_maps, sender_canonical_maps, recipient_canonical_maps,
 *   canonical_classes, sender_canonical_classes, recipient_canonical_classes,
 *   virtual_alias_maps ($virtual_maps), virtual_alias_recursion_limit (1000),
 *   virtual_alias_expansion_limit (1000), masquerade_domains,
 *   masquerade_exceptions, masquerade_classes (envelope_sender,
 *   header_sender, header_recipient), propagate_unmatched_extensions
 *   (canonical, virtual), always_bcc, sender_bcc_maps, recipient_bcc_maps,
 *   header_checks, mime_header_checks ($header_checks), nested_header_checks
 *   ($header_checks), body_checks, body_checks_size_limit (51200),
 *   disable_mime_input_processing (no), strict_7bit_headers (no),
 *   strict_8bitmime_body (no), strict_8bitmime (no),
 *   strict_mime_encoding_domain (no),
 *   message_size_limit (10240000), header_size_limit (102400),
 *   hopcount_limit (50), undisclosed_recipients_header (empty),
 *   always_add_missing_headers (no), local_header_rewrite_clients
 *   (permit_inet_interfaces), remote_header_rewrite_domain, mynetworks,
 *   message_drop_headers (bcc, content-length, resent-bcc, return-path),
 *   header_from_format (standard), content_filter, duplicate_filter_limit
 *   (1000), enable_original_recipient (yes), myhostname, myorigin,
 *   recipient_delimiter, empty_address_recipient.
 *
 * SECURITY
 *   cleanup handles untrusted content but never interprets it beyond header
 *   parsing and table lookups; regexp/pcre patterns are the administrator's.
 *   Memory stays bounded: headers are limited by header_size_limit, the
 *   body is streamed. Nothing is acknowledged before the queue write is
 *   durable.
 */
import { inject, injectable, QMGR_TRIGGER, QUEUE, QUEUE_STORE, REWRITE, TABLES, TRIGGER, serveCleanup, type QueueStore, type RewriteService, type ServiceMain, type TableRegistry, type TriggerService } from '@postern/core';
import { Cleanup } from './cleanup-service.js';

/** What cleanup takes from its container: tables, the queue, trivial-rewrite and qmgr's trigger. */
@injectable()
export class CleanupServices {
  constructor(
    @inject(TABLES) readonly tables: TableRegistry,
    @inject(QUEUE_STORE) readonly store: QueueStore,
    @inject(REWRITE) readonly rewrite: RewriteService,
    @inject(QMGR_TRIGGER) readonly qmgr: TriggerService,
  ) {}
}

export const main: ServiceMain = async (ctx) => {
  const { tables, store, rewrite, qmgr } = ctx.container.resolve(CleanupServices);
  const impl = new Cleanup({
    config: ctx.config,
    tables,
    store,
    rewrite,
    log: ctx.log,
    onQueued: (queue) => {
      if (queue === QUEUE.INCOMING) qmgr.trigger(TRIGGER.SCAN_INCOMING);
    },
  });
  return serveCleanup(ctx, impl);
};
