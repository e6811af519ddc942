/**
 * UNIX mbox delivery (Postfix's mbox_open() + mail_copy()): appends one
 * message to a mailbox file under an exclusive lock, and truncates the
 * file back to its old length when anything goes wrong.
 *
 * Safety (safe_open()): the final path component is opened with O_NOFOLLOW;
 * the file must be a regular file with one hard link. A new file is created
 * with mode 0600 and, when this process runs as root and `owner` is given,
 * handed to that owner. With `requireOwner`, an existing file owned by
 * another uid defers (strict_mailbox_ownership).
 */
import { constants as fsc } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { mailCopy, type MailCopyOptions } from './mail-copy.js';
import { LockError, lockMailbox, type HeldLock, type LockMethod } from './mailbox-lock.js';
import { errnoDsn, errnoError, errorText, failResult, sentResult, type MailboxResult } from './mailbox-status.js';

export interface MboxOptions {
  /** Lock methods (mailbox_delivery_lock); default fcntl + dotlock. */
  readonly lock?: readonly LockMethod[];
  readonly lockAttempts?: number;
  readonly lockDelay?: number;
  readonly staleLockTime?: number;
  /** Largest allowed file size in bytes after delivery; 0 or absent = no limit. */
  readonly sizeLimit?: number;
  /** Owner for a newly created file (applied only when running as root). */
  readonly owner?: { readonly uid: number; readonly gid: number };
  /** Defer when an existing file is not owned by this uid (strict_mailbox_ownership). */
  readonly requireOwner?: number;
  /** What the reason calls the destination: "mailbox" (default) or "file". */
  readonly kind?: 'mailbox' | 'file';
  readonly signal?: AbortSignal;
}

const isRoot = () => typeof process.getuid === 'function' && process.getuid() === 0;

async function openMbox(path: string): Promise<{ fh: FileHandle; created: boolean }> {
  const flags = fsc.O_WRONLY | fsc.O_APPEND | fsc.O_NOFOLLOW | fsc.O_NOCTTY;
  try {
    return { fh: await open(path, flags | fsc.O_CREAT | fsc.O_EXCL, 0o600), created: true };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  return { fh: await open(path, flags), created: false };
}

/** Appends the message to the mbox file `path`; see the module header. */
export async function deliverMbox(
  path: string,
  content: AsyncIterable<Buffer> | Iterable<Buffer>,
  copy: MailCopyOptions,
  opts: MboxOptions = {},
): Promise<MailboxResult> {
  const what = opts.kind === 'file' ? `file ${path}` : `mailbox ${path}`;
  let fh: FileHandle | undefined;
  let lock: HeldLock | undefined;
  let origSize = -1;
  try {
    let created: boolean;
    try {
      ({ fh, created } = await openMbox(path));
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      if (e.code === 'ELOOP') return failResult('5.2.0', `cannot open ${what}: destination ${path} is a symbolic link`);
      if (e.code === 'EISDIR') return failResult('5.2.0', `cannot open ${what}: destination ${path} is not a regular file`);
      return failResult(errnoDsn(e.code, '4.2.0'), `cannot open ${what}: ${errorText(e)}`);
    }
    if (created && opts.owner && isRoot()) await fh.chown(opts.owner.uid, opts.owner.gid);
    const st = await fh.stat();
    if (!st.isFile()) return failResult('5.2.0', `cannot open ${what}: destination ${path} is not a regular file`);
    if (st.nlink !== 1) return failResult('5.2.0', `cannot open ${what}: destination ${path} has ${st.nlink} hard links`);
    if (opts.requireOwner !== undefined && st.uid !== opts.requireOwner) {
      return failResult('4.2.0', `cannot open ${what}: destination ${path} is not owned by recipient`);
    }
    try {
      lock = await lockMailbox(path, opts.lock ?? ['fcntl', 'dotlock'], {
        attempts: opts.lockAttempts,
        delay: opts.lockDelay,
        staleTime: opts.staleLockTime,
        expect: { dev: st.dev, ino: st.ino },
        signal: opts.signal,
      });
    } catch (err) {
      if (err instanceof LockError) return failResult(err.code === 'EACCES' ? '4.2.0' : errnoDsn(err.code, '4.2.0'), `cannot open ${what}: ${err.message}`);
      throw err;
    }
    origSize = (await fh.stat()).size;
    let written = 0;
    for await (const chunk of mailCopy(content, copy)) {
      if (opts.signal?.aborted) throw opts.signal.reason;
      if (opts.sizeLimit && origSize + written + chunk.length > opts.sizeLimit) throw errnoError('EFBIG', 'File too large');
      await fh.write(chunk);
      written += chunk.length;
    }
    await fh.sync();
    origSize = -1;
    return sentResult(opts.kind === 'file' ? `delivered to file: ${path}` : 'delivered to mailbox');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return failResult(errnoDsn(e?.code, '4.2.0'), `cannot update ${what}: error writing message: ${errorText(e)}`);
  } finally {
    if (fh && origSize >= 0) await fh.truncate(origSize).catch(() => undefined);
    if (lock) await lock.release().catch(() => undefined);
    if (fh) await fh.close().catch(() => undefined);
  }
}
