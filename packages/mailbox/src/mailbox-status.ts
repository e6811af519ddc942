/**
 * The outcome of a mailbox, file or command delivery, and the mapping of
 * errno values to RFC 3463 status codes (Postfix's mbox_dsn()).
 */
import type { DeliveryStatus } from '@postern/core';
import { errnoText } from './mailbox-lock.js';

export interface MailboxResult {
  readonly status: DeliveryStatus;
  /** RFC 3463 status, e.g. "2.0.0", "4.2.0", "5.2.2". */
  readonly dsn: string;
  readonly reason: string;
}

export const sentResult = (reason: string, dsn = '2.0.0'): MailboxResult => ({ status: 'sent', dsn, reason });

/** A result whose status follows the class of its DSN (4.x.x deferred, 5.x.x bounced). */
export function failResult(dsn: string, reason: string): MailboxResult {
  return { status: dsn.startsWith('5') ? 'bounced' : 'deferred', dsn, reason };
}

/**
 * mbox_dsn(): a full disk or quota (ENOSPC, EDQUOT) defers with 4.3.0, a
 * file size limit (EFBIG) bounces with 5.2.2 (mailbox full), try-again
 * errors defer with 4.2.0; anything else gets `fallback`.
 */
export function errnoDsn(code: string | undefined, fallback: string): string {
  switch (code) {
    case 'ENOSPC':
    case 'EDQUOT':
      return '4.3.0';
    case 'EFBIG':
      return '5.2.2';
    case 'EAGAIN':
    case 'ESTALE':
    case 'EACCES':
    case 'EPERM':
    case 'EROFS':
    case 'EIO':
      return '4.2.0';
    default:
      return fallback;
  }
}

export function errorText(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e && typeof e === 'object' && 'code' in e && typeof e.code === 'string' ? errnoText(e) : err instanceof Error ? err.message : String(err);
}

/** An errno-carrying error for conditions the mailbox code detects itself. */
export function errnoError(code: string, message: string): NodeJS.ErrnoException {
  const e = new Error(message) as NodeJS.ErrnoException;
  e.code = code;
  return e;
}
