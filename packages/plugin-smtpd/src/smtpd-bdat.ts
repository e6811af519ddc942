/**
 * BDAT (RFC 3030 CHUNKING) as Postfix's smtpd.c bdat_cmd() answers it.
 *
 *   BDAT count [LAST]   the next `count` octets are message content, as
 *                       they are (no dot-stuffing, no end marker); the
 *                       first chunk of a transaction runs the DATA-stage
 *                       checks (recipients, smtpd_data_restrictions) and
 *                       starts the same cleanup stream DATA uses; a
 *                       non-final chunk answers "250 2.0.0 Ok: N bytes",
 *                       LAST "250 2.0.0 Ok: N bytes queued as ID".
 *
 * A chunk that is refused is still read and dropped (skip_bdat), so the
 * command stream stays in step: "551 5.7.1 Null BDAT request" (BDAT 0
 * without LAST), "552 5.3.4 Chunk exceeds message size limit", and, after
 * an error within a transaction, "551 5.0.0 Discarded N bytes after
 * earlier error" until BDAT LAST or RSET. A malformed BDAT command, or
 * BDAT with CHUNKING discarded (smtpd_discard_ehlo_keywords), gets a 521
 * and the connection is closed: what follows would be raw content. MAIL,
 * RCPT and DATA inside a BDAT transaction get "503 5.5.1 Error: ... after
 * BDAT".
 */
import { PassThrough } from 'node:stream';

/** The reply for content past message_size_limit (cleanup's CLEANUP_STAT_SIZE as smtpd words it). */
export const REPLY_MESSAGE_TOO_BIG = '552 5.3.4 Error: message file too big';

export const REPLY_BDAT_SYNTAX = '521 5.5.4 Syntax: BDAT count [LAST]';
export const REPLY_BDAT_DISABLED = '521 5.5.1 Error: command not implemented';
export const REPLY_BDAT_NULL = '551 5.7.1 Null BDAT request';
export const REPLY_CHUNK_TOO_BIG = '552 5.3.4 Chunk exceeds message size limit';
export const replyDiscarded = (n: number): string => `551 5.0.0 Discarded ${n} bytes after earlier error`;

/** "count [LAST]" -> the chunk size and whether it is the last; undefined when malformed. */
export function parseBdat(args: string): { size: number; last: boolean } | undefined {
  const m = /^(\d{1,15})(?:\s+(\S+))?$/.exec(args.trim());
  if (!m) return undefined;
  if (m[2] !== undefined && m[2].toUpperCase() !== 'LAST') return undefined;
  return { size: Number(m[1]), last: m[2] !== undefined };
}

/** One BDAT mail transaction: the content stream cleanup reads, and the octets so far. */
export class BdatTransaction {
  readonly content = new PassThrough();
  bytes = 0;
  /** Settles once cleanup has the message (or refused it) and the final reply is out. */
  result: Promise<boolean> = Promise.resolve(false);

  /** Forget the content (RSET, an error, the client left). */
  abort(): void {
    if (!this.content.destroyed) this.content.destroy();
  }
}
