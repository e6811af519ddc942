/**
 * qmail-compatible Maildir delivery (Postfix's deliver_maildir()): the
 * message is written to DIR/tmp/ under a unique name, synced, then linked
 * into DIR/new/ and the tmp name removed. tmp, new and cur are created
 * (mode 0700) when missing.
 *
 * Names: tmp/TIME.PPID_QCOUNTER.HOST while writing (one Node process
 * delivers many messages at once, so the pid is complemented with a
 * per-process counter), new/TIME.VDEVIINODEMUSEC.HOST once complete
 * (Postfix's form: device and inode in hex, microseconds in decimal). In
 * HOST, "/" and ":" are written as \057 and \072.
 */
import { constants as fsc } from 'node:fs';
import { link, mkdir, open, unlink, type FileHandle } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { mailCopy, type MailCopyOptions } from './mail-copy.js';
import { errnoDsn, errnoError, errorText, failResult, sentResult, type MailboxResult } from './mailbox-status.js';

export interface MaildirOptions {
  /** Largest allowed message file in bytes; 0 or absent = no limit. */
  readonly sizeLimit?: number;
  /** Host name used in file names (default: os.hostname()). */
  readonly hostname?: string;
  /** What the reason calls the destination: "maildir" (default) or "file". */
  readonly kind?: 'maildir' | 'file';
  readonly signal?: AbortSignal;
}

let counter = 0;

/** The host name as it appears in Maildir file names. */
export function maildirHostname(name: string = hostname()): string {
  return name.replace(/\//g, '\\057').replace(/:/g, '\\072');
}

/** A tmp/ name unique to this process and delivery. */
export function maildirTmpName(host: string, now = Date.now()): string {
  counter = (counter + 1) % 1_000_000_000;
  return `${Math.floor(now / 1000)}.P${process.pid}Q${counter}.${host}`;
}

/** Delivers the message into the Maildir `dir` (with or without the trailing "/"). */
export async function deliverMaildir(
  dir: string,
  content: AsyncIterable<Buffer> | Iterable<Buffer>,
  copy: MailCopyOptions,
  opts: MaildirOptions = {},
): Promise<MailboxResult> {
  const what = opts.kind === 'file' ? `file ${dir}` : `maildir ${dir}`;
  const host = maildirHostname(opts.hostname);
  const tmpDir = join(dir, 'tmp');
  const newDir = join(dir, 'new');
  try {
    for (const d of [dir, tmpDir, newDir, join(dir, 'cur')]) await mkdir(d, { recursive: true, mode: 0o700 });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return failResult(errnoDsn(e.code, e.code === 'ENOTDIR' || e.code === 'EEXIST' ? '5.2.0' : '4.2.0'), `create maildir file ${dir}: ${errorText(e)}`);
  }
  const started = Date.now();
  const tmpPath = join(tmpDir, maildirTmpName(host, started));
  let fh: FileHandle | undefined;
  let linked = false;
  try {
    try {
      fh = await open(tmpPath, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, 0o600);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      return failResult(errnoDsn(e.code, '4.2.0'), `create maildir file ${tmpPath}: ${errorText(e)}`);
    }
    let written = 0;
    for await (const chunk of mailCopy(content, copy)) {
      if (opts.signal?.aborted) throw opts.signal.reason;
      if (opts.sizeLimit && written + chunk.length > opts.sizeLimit) throw errnoError('EFBIG', 'File too large');
      await fh.write(chunk);
      written += chunk.length;
    }
    await fh.sync();
    const st = await fh.stat();
    await fh.close();
    fh = undefined;
    const usec = (started % 1000) * 1000;
    const newName = `${Math.floor(started / 1000)}.V${st.dev.toString(16)}I${st.ino.toString(16)}M${usec}.${host}`;
    await link(tmpPath, join(newDir, newName));
    linked = true;
    await unlink(tmpPath).catch(() => undefined);
    return sentResult(opts.kind === 'file' ? `delivered to file: ${dir}` : 'delivered to maildir');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return failResult(errnoDsn(e?.code, '4.2.0'), `cannot update ${what}: error writing message: ${errorText(e)}`);
  } finally {
    if (fh) await fh.close().catch(() => undefined);
    if (!linked) await unlink(tmpPath).catch(() => undefined);
  }
}
