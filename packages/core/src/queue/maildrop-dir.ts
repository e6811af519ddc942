/**
 * The maildrop directory: local submission by users who cannot write the
 * queue store (Postfix's postdrop(1)).
 *
 * Postfix's sendmail hands a message to the set-gid postdrop, which writes
 * into the group-writable maildrop directory. Node cannot run set-gid, so
 * Postern takes the model Postfix itself used before set-gid postdrop (its
 * README "writable versus protected maildrop directory"):
 * `queue_directory/maildrop` is mode 1733 (world-writable, sticky, not
 * listable), owned by mail_owner with group setgid_group (`postern
 * set-permissions` makes it so). Any local user can create a file there but
 * not list the directory, read, rename or remove another user's file; file
 * names are 128 random bits. pickup(8), as the directory's owner, moves each
 * complete file into the queue store's maildrop queue and removes it, and
 * takes the submitter's uid from the file's owner, never from its contents.
 *
 * File format: "POSTERN-MAILDROP 1\n", one line of JSON (the maildrop record
 * without origin), then the raw message. A file is written as "t.NAME" and
 * renamed to "NAME" when complete; pickup ignores "t." files (and removes
 * those older than a day: an interrupted sendmail).
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fstatSync, openSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeSync, fchmodSync, constants as fsc } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../contracts/logger.js';
import type { QueueStore } from '../contracts/queue.js';
import { postdrop, type MaildropRecord } from './maildrop.js';

export const MAILDROP_DIRECTORY = 'maildrop';
const MAGIC = 'POSTERN-MAILDROP 1\n';
const STALE_MS = 24 * 3600 * 1000;

/** queue_directory/maildrop. */
export function maildropDirectory(queueDirectory: string): string {
  return join(queueDirectory, MAILDROP_DIRECTORY);
}

/** Writes one message into the maildrop directory; returns its file name. */
export function dropMaildropFile(dir: string, record: Omit<MaildropRecord, 'origin' | 'arrivalTime'>, content: readonly Buffer[]): string {
  const name = randomBytes(16).toString('hex');
  const tmp = join(dir, `t.${name}`);
  const fd = openSync(tmp, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL, 0o600);
  try {
    writeSync(fd, MAGIC + JSON.stringify({ ...record, arrivalTime: Date.now() }) + '\n');
    for (const c of content) writeSync(fd, c);
    // readable by pickup (the directory itself is not listable or searchable by name guessing)
    fchmodSync(fd, 0o644);
  } catch (err) {
    closeSync(fd);
    unlinkSync(tmp);
    throw err;
  }
  closeSync(fd);
  renameSync(tmp, join(dir, name));
  return name;
}

/**
 * Moves every complete file of the maildrop directory into the store's
 * maildrop queue (pickup then checks each record as it checks all maildrop
 * mail). A file whose record does not parse, or claims another uid than the
 * file's owner, is removed with a warning.
 */
export async function importMaildropFiles(dir: string, store: QueueStore, log: Logger): Promise<number> {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return 0;
  }
  let moved = 0;
  for (const name of names) {
    const path = join(dir, name);
    if (name.startsWith('t.')) {
      try {
        if (Date.now() - statSync(path).mtimeMs > STALE_MS) unlinkSync(path);
      } catch {
        /* gone */
      }
      continue;
    }
    let owner: number;
    let data: Buffer;
    try {
      const fd = openSync(path, fsc.O_RDONLY | fsc.O_NOFOLLOW);
      try {
        const st = fstatSync(fd);
        if (!st.isFile()) throw new Error('not a regular file');
        owner = st.uid;
        data = readFileSync(fd);
      } finally {
        closeSync(fd);
      }
    } catch (err) {
      log.warn(`maildrop file ${name}: ${(err as Error).message}: removed`);
      tryUnlink(path);
      continue;
    }
    const record = parse(data);
    if (typeof record === 'string' || record.record.submitter?.uid !== owner) {
      log.warn(`maildrop file ${name} (uid ${owner}): ${typeof record === 'string' ? record : 'submitter uid is not the file owner'}: removed`);
      tryUnlink(path);
      continue;
    }
    await postdrop(store, record.record, [record.content]);
    tryUnlink(path);
    moved++;
  }
  return moved;
}

function parse(data: Buffer): { record: Omit<MaildropRecord, 'origin'>; content: Buffer } | string {
  if (!data.subarray(0, MAGIC.length).equals(Buffer.from(MAGIC))) return 'not a maildrop file';
  const nl = data.indexOf(0x0a, MAGIC.length);
  if (nl < 0) return 'no record';
  try {
    const record = JSON.parse(data.subarray(MAGIC.length, nl).toString('utf8')) as Omit<MaildropRecord, 'origin'>;
    if (!record || typeof record !== 'object') return 'malformed record';
    return { record, content: data.subarray(nl + 1) };
  } catch {
    return 'malformed record';
  }
}

function tryUnlink(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    /* gone */
  }
}
