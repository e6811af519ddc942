/**
 * The queue space check at MAIL FROM (smtpd_check_queue): refuse mail with
 * "452 4.3.1 Insufficient system storage" when the queue file system has no
 * more than queue_minfree bytes free, or less than 1.5 times
 * message_size_limit, so that a full disk is answered up front instead of
 * with a write error after DATA. Space the queue backend holds for reuse
 * (QUEUE_RECLAIMABLE_FILE: LMDB's free pages) counts as free, as the space
 * of Postfix's removed queue files does.
 */
import { readFile, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { QUEUE_RECLAIMABLE_FILE, type ConfigView, type Logger } from '@postern/core';

/** Free space must exceed this many message_size_limits (Postfix's smtpd_space_multf). */
export const SPACE_MULTIPLIER = 1.5;
export const INSUFFICIENT_STORAGE = '452 4.3.1 Insufficient system storage';

/**
 * An answer far from the limit is kept this long (ms): statfs costs more than
 * the rest of MAIL FROM, and a disk with this much room to spare cannot fill
 * up within it. Close to the limit every MAIL FROM asks again.
 */
const ROOMY_FOR = 1000;
const ROOMY_MARGIN = 256 * 1024 * 1024;
const roomy = new Map<string, number>();

/** The reply when the queue is short of space, else undefined (also when the file system cannot be asked). */
export async function queueSpaceReply(config: ConfigView, log: Logger): Promise<string | undefined> {
  const dir = config.get('queue_directory');
  const now = Date.now();
  if ((roomy.get(dir) ?? 0) > now) return undefined;
  let free: number;
  let block: number;
  try {
    const fs = await statfs(dir);
    block = fs.bsize || 1;
    free = fs.bavail + Math.floor((await reclaimable(dir)) / block);
  } catch {
    return undefined;
  }
  const minfree = config.size('queue_minfree');
  const limit = config.size('message_size_limit');
  if (free * block > Math.max(minfree, limit * SPACE_MULTIPLIER) + ROOMY_MARGIN) roomy.set(dir, now + ROOMY_FOR);
  // in blocks, as Postfix compares them
  if (Math.floor(minfree / block) >= free || Math.floor(limit / block) >= free / SPACE_MULTIPLIER) {
    log.warn(`not enough free space in mail queue: ${free * block} bytes < ${SPACE_MULTIPLIER}*message size limit`);
    return INSUFFICIENT_STORAGE;
  }
  return undefined;
}

/** What the queue backend says it can reuse (0 when it says nothing). */
async function reclaimable(dir: string): Promise<number> {
  try {
    const n = Number((await readFile(join(dir, QUEUE_RECLAIMABLE_FILE), 'utf8')).trim());
    return Number.isFinite(n) && n > 0 ? n : 0;
  } catch {
    return 0;
  }
}
