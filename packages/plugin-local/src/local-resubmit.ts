/**
 * forward_append()/forward_finish(): addresses that an alias, .forward or
 * :include: file sends off this machine are re-injected as one new message
 * per (sender, Delivered-To) pair through cleanup, with origin "local",
 * the original arrival time, the DSN attributes of the request, each
 * recipient's original address kept, and (prepend_delivered_header
 * "forward") a "Delivered-To: ADDRESS" header prepended for loop
 * detection. Header/body checks and BCC maps are not applied again.
 * Each forwarded address reports "forwarded as QUEUEID", or a deferral
 * when cleanup refuses or cannot be reached.
 */
import type { CleanupService } from '@postern/core';
import { prependedLines } from '@postern/mailbox';
import type { ForwardEntry, LeafResult, LocalRequest } from './local-state.js';

/** Submits the queued forwards; returns each entry's final status. */
export async function forwardFinish(req: LocalRequest, cleanup: () => CleanupService): Promise<Map<ForwardEntry, LeafResult>> {
  const results = new Map<ForwardEntry, LeafResult>();
  const groups = new Map<string, ForwardEntry[]>();
  for (const e of req.forwards.entries) {
    const key = `${e.sender}\0${e.delivered.toLowerCase()}`;
    const list = groups.get(key);
    if (list) list.push(e);
    else groups.set(key, [e]);
  }
  const r = req.request;
  for (const entries of groups.values()) {
    const first = entries[0]!;
    const head = req.settings.prependDeliveredHeader.includes('forward')
      ? Buffer.from(prependedLines({ deliveredTo: first.delivered }).join('\n') + '\n')
      : Buffer.alloc(0);
    let status: LeafResult;
    try {
      const rcpt = r.recipients;
      const result = await cleanup().submit(
        {
          sender: first.sender,
          recipients: entries.map((e) => {
            const q = rcpt.find((x) => x.index === e.index);
            return {
              address: e.address,
              original: e.original,
              ...(q?.orcpt !== undefined && { orcpt: q.orcpt }),
              ...(q?.notify !== undefined && { notify: q.notify }),
            };
          }),
          origin: 'local',
          arrivalTime: r.arrivalTime,
          ...(r.dsnRet !== undefined && { dsnRet: r.dsnRet }),
          ...(r.dsnEnvid !== undefined && { dsnEnvid: r.dsnEnvid }),
          ...(r.bodyType !== undefined && { bodyType: r.bodyType }),
          ...(r.smtputf8 !== undefined && { smtputf8: r.smtputf8 }),
          flags: { noHeaderBodyChecks: true, noBccMaps: true },
          // a probe or sendmail -bv follows the forwarded address
          ...(r.traceFlags !== undefined && { traceFlags: r.traceFlags }),
        },
        (async function* () {
          if (head.length) yield head;
          yield req.content;
        })(),
      );
      status =
        result.status === 'queued' || result.status === 'discarded'
          ? { status: 'sent', dsn: '2.0.0', reason: `forwarded as ${result.queueId}` }
          : { status: result.dsn.startsWith('5') ? 'bounced' : 'deferred', dsn: result.dsn, reason: `cannot forward: ${result.text}` };
    } catch (err) {
      status = { status: 'deferred', dsn: '4.3.0', reason: `cannot forward: ${(err as Error).message}` };
    }
    for (const e of entries) results.set(e, { ...status, address: e.address });
  }
  return results;
}
