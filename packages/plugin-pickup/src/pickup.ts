/**
 * pickup(8) - Postfix local mail pickup
 *
 * SYNOPSIS
 *   master.cf: pickup unix n - n 60 1 pickup
 *
 * DESCRIPTION
 *   The pickup daemon waits for hints that new mail has been dropped into
 *   the maildrop queue, and feeds it into cleanup(8). Ill-formatted input is
 *   moved to the corrupt queue with a warning. The hints are the single
 *   bytes written to queue_directory/public/pickup (the sendmail command
 *   writes "W" after each postdrop) and master's wakeup timer (60 s in the
 *   stock master.cf), so mail dropped while no one told pickup is still
 *   found within a minute.
 *
 *   Each scan first moves the files of queue_directory/maildrop (written
 *   by sendmail for users who cannot open the queue store; see core's
 *   maildrop-dir) into the maildrop queue, the submitter's uid being the
 *   file's owner.
 *
 *   For each maildrop message pickup checks the record (sender, recipients,
 *   submitter uid and login name, DSN fields, flags: every field comes from
 *   a local user), logs "QUEUEID: uid=UID from=<sender>" with cleanup's new
 *   queue ID, prepends "Received: by $myhostname ($mail_name, from userid
 *   UID)", and hands envelope and content to cleanup (origin "pickup", the
 *   login name and full name as the submitter, sendmail -t as the
 *   extractRecipients flag). The maildrop copy is deleted only once cleanup
 *   has queued the message; a crash in between makes the next scan submit it
 *   again (at most twice, never lost). When cleanup refuses a message for
 *   good (e.g. too large, no recipients after -t), pickup logs a warning and
 *   moves it to the corrupt queue, where postsuper and the administrator can
 *   see it; when cleanup is unavailable or fails temporarily, the message
 *   stays in maildrop for the next wakeup.
 *
 * PROTOCOL
 *   Trigger server (trigger_server(3)): any bytes on public/pickup start a
 *   scan; requests arriving during a scan make one more scan after it.
 *   Messages go to cleanup through the CleanupService contract.
 *
 * CONFIGURATION PARAMETERS
 *   queue_directory  where the maildrop queue lives (core)
 *   myhostname, mail_name  the Received: header (core)
 *   content_filter, receive_override_options  applied by cleanup(8)
 *
 * SECURITY
 *   pickup runs with the mail system's privileges and trusts nothing in the
 *   maildrop queue: records are checked field by field; it runs as a single
 *   process (maxproc 1), as Postfix's does, so no message is handled twice
 *   at once.
 */
import { CLEANUP, importMaildropFiles, maildropDirectory, QUEUE, QUEUE_STORE, serveTriggers, use, type ServiceMain } from '@postern/core';
import { pickupFile, type PickupOutcome } from './pickup-file.js';

export interface PickupScanner {
  /** Starts a scan, or asks for one more after the running one; resolves when the maildrop queue has been scanned. */
  scan(): Promise<void>;
  /** Waits for the running scan. */
  idle(): Promise<void>;
}

/** The scan loop of one pickup process. */
export function createPickupScanner(
  options: Parameters<typeof pickupFile>[1] & {
    readonly onOutcome?: (id: string, outcome: PickupOutcome) => void;
    /** queue_directory/maildrop: files that users without queue-store access dropped (core's maildrop-dir). */
    readonly maildropDir?: string;
  },
): PickupScanner {
  let running: Promise<void> | undefined;
  let again = false;

  async function once(): Promise<void> {
    if (options.maildropDir) await importMaildropFiles(options.maildropDir, options.store, options.log);
    const ids: string[] = [];
    for await (const m of options.store.scan(QUEUE.MAILDROP)) ids.push(m.id);
    for (const id of ids) {
      let outcome: PickupOutcome;
      try {
        outcome = await pickupFile(id, options);
      } catch (err) {
        options.log.warn(`${id}: ${err instanceof Error ? err.message : String(err)}`);
        outcome = { status: 'deferred', reason: String(err) };
      }
      options.onOutcome?.(id, outcome);
      // cleanup is down: the rest would fail the same way; the next trigger or wakeup retries.
      if (outcome.status === 'deferred') break;
    }
  }

  async function loop(): Promise<void> {
    do {
      again = false;
      await once();
    } while (again);
  }

  return {
    scan() {
      if (running) {
        again = true;
        return running;
      }
      running = loop().finally(() => (running = undefined));
      return running;
    },
    async idle() {
      while (running) await running;
    },
  };
}

export const main: ServiceMain = async (ctx) => {
  const scanner = createPickupScanner({
    store: use(ctx.container, QUEUE_STORE),
    cleanup: use(ctx.container, CLEANUP),
    log: ctx.log,
    myhostname: ctx.config.get('myhostname'),
    mailName: ctx.config.get('mail_name') || 'Postern',
    softBounce: ctx.config.bool('soft_bounce'),
    maildropDir: maildropDirectory(ctx.config.get('queue_directory')),
  });
  serveTriggers(ctx, () => {
    scanner.scan().catch((err: unknown) => ctx.log.warn(`maildrop scan: ${err instanceof Error ? err.message : String(err)}`));
  });
  // Mail dropped while the system was down: look once at start.
  scanner.scan().catch((err: unknown) => ctx.log.warn(`maildrop scan: ${err instanceof Error ? err.message : String(err)}`));
  return {
    async stop(graceful: boolean) {
      if (graceful) await scanner.idle();
    },
  };
};
