/**
 * Structure check and repair of the queue (postsuper -s).
 *
 * Postfix's postsuper -s renames queue files whose name does not match their
 * inode and moves unreadable files to the corrupt queue. Here a crash cannot
 * leave half a message (every change is one transaction), so what remains to
 * check is damage from outside: a database edited by hand, a bug, a disk error.
 *
 * | problem                 | meaning                                          | repair                        |
 * |-------------------------|--------------------------------------------------|-------------------------------|
 * | `index-without-message` | a queue entry for a message that is not there (or is in another queue) | remove the entry |
 * | `message-without-index` | a message its queue does not list                | add the entry                 |
 * | `missing-content`       | content chunks missing or of the wrong size      | move the message to corrupt   |
 * | `orphan-content`        | content of a message that does not exist         | remove it                     |
 * | `orphan-log`            | delivery log of a message that does not exist    | remove it                     |
 *
 * Every repair re-reads the message and is conditional on its version, so
 * repair is safe while the mail system runs. The walk reads pages of keys,
 * so memory stays bounded for any queue size.
 */
import type { Database, Key } from 'lmdb';
import type { Logger } from '@postern/core';
import type { QueuedMessage } from '@postern/core';
import { QUEUE, QUEUE_NAMES } from '@postern/core';
import type { QueueCheckReport, QueueProblem, QueueProblemKind } from '@postern/core';
import { PAGE_SIZE, indexKey, indexKeyId, keysEqual, writeFailure } from './queue-lmdb.js';
import type { QueueDbs, StoredMessage } from './queue-lmdb.js';

/** Every key of `db` in order, read a page at a time with a fresh read transaction per page. */
function* pagedKeys(db: Database<unknown, Key>, reset: () => void): Generator<Key> {
  let start: Key | undefined;
  for (;;) {
    reset();
    const page: Key[] = [];
    for (const key of db.getKeys({ start, limit: PAGE_SIZE + 1, snapshot: false })) {
      if (start !== undefined && page.length === 0 && keysEqual(key, start)) continue;
      page.push(key);
      if (page.length === PAGE_SIZE) break;
    }
    yield* page;
    if (page.length < PAGE_SIZE) return;
    start = page[page.length - 1];
  }
}

/** The content problem of a stored message, if any. */
function contentProblem(dbs: QueueDbs, stored: StoredMessage): string | undefined {
  const { id, size } = stored.message;
  let total = 0;
  for (let n = 0; n < stored.chunks; n++) {
    const chunk = dbs.content.getBinaryFast([id, n]);
    if (chunk === undefined) return `content chunk ${n} of ${stored.chunks} is missing`;
    total += chunk.length;
  }
  return total === size ? undefined : `content is ${total} bytes, expected ${size}`;
}

export async function checkQueue(dbs: QueueDbs, options: { repair: boolean; log?: Logger }): Promise<QueueCheckReport> {
  const { messages, content, logs, index, root } = dbs;
  const reset = (): void => root.resetReadTxn();
  const problems: QueueProblem[] = [];
  let repaired = 0;
  let examined = 0;

  const report = async (problem: QueueProblem, fix: () => Promise<boolean>): Promise<void> => {
    problems.push(problem);
    if (!options.repair) return;
    let fixed: boolean;
    try {
      fixed = await fix();
    } catch (err) {
      options.log?.warn(`${problem.id}: cannot repair ${problem.kind}: ${await writeFailure(err)}`);
      return;
    }
    if (fixed) {
      repaired++;
      options.log?.warn(`${problem.id}: repaired ${problem.kind}: ${problem.detail}`);
    }
  };

  /** Runs `writes` if the message is still absent (version null) or still at `version`. */
  const ifUnchanged = (id: string, version: number | null, writes: () => void): Promise<boolean> =>
    version === null ? messages.ifNoExists(id, writes) : messages.ifVersion(id, version, writes);

  // Queue index entries that point nowhere.
  for (const queue of QUEUE_NAMES) {
    for (const key of pagedKeys(index[queue], reset)) {
      const id = indexKeyId(queue, key);
      const stored = messages.get(id);
      if (stored && stored.message.queue === queue && keysEqual(indexKey(stored.message), key)) continue;
      const detail = stored ? `listed in ${queue}, but the message is in ${stored.message.queue}` : `listed in ${queue}, no such message`;
      await report({ kind: 'index-without-message', id, queue, detail }, async () => {
        reset();
        const entry = messages.getEntry(id);
        const current = entry?.value.message;
        if (current && current.queue === queue && keysEqual(indexKey(current), key)) return false;
        return ifUnchanged(id, entry ? (entry.version ?? 0) : null, () => {
          index[queue].remove(key);
        });
      });
    }
  }

  // Messages: listed in their queue, content complete.
  for (const key of pagedKeys(messages as Database<unknown, Key>, reset)) {
    const id = String(key);
    const stored = messages.get(id);
    if (!stored) continue;
    examined++;
    const message = stored.message;
    if (index[message.queue].get(indexKey(message)) === undefined) {
      await report({ kind: 'message-without-index', id, queue: message.queue, detail: `not listed in ${message.queue}` }, async () => {
        reset();
        const entry = messages.getEntry(id);
        if (!entry) return false;
        const current = entry.value.message;
        if (index[current.queue].get(indexKey(current)) !== undefined) return false;
        return ifUnchanged(id, entry.version ?? 0, () => {
          index[current.queue].put(indexKey(current), true);
        });
      });
    }
    const damage = message.queue === QUEUE.CORRUPT ? undefined : contentProblem(dbs, stored);
    if (damage !== undefined) {
      await report({ kind: 'missing-content', id, queue: message.queue, detail: damage }, async () => {
        reset();
        const entry = messages.getEntry(id);
        if (!entry || entry.value.message.queue === QUEUE.CORRUPT) return false;
        const version = entry.version ?? 0;
        const current = entry.value.message;
        const moved: QueuedMessage = { ...current, queue: QUEUE.CORRUPT, reason: damage };
        return ifUnchanged(id, version, () => {
          index[current.queue].remove(indexKey(current));
          index[QUEUE.CORRUPT].put(indexKey(moved), true);
          messages.put(id, { message: moved, chunks: entry.value.chunks }, version + 1);
        });
      });
    }
  }

  // Content and logs of messages that do not exist. Keys of one message are adjacent.
  const orphans = async (db: Database<unknown, Key>, idOf: (key: Key) => string, kind: QueueProblemKind): Promise<void> => {
    let id: string | undefined;
    let keys: Key[] = [];
    const flush = async (): Promise<void> => {
      if (id === undefined || keys.length === 0) return;
      const orphanId = id;
      const orphanKeys = keys;
      await report({ kind, id: orphanId, detail: `${orphanKeys.length} record(s) without a message` }, () =>
        ifUnchanged(orphanId, null, () => {
          for (const k of orphanKeys) db.remove(k);
        }),
      );
    };
    for (const key of pagedKeys(db, reset)) {
      const keyId = idOf(key);
      if (keyId !== id) {
        await flush();
        id = keyId;
        keys = [];
      }
      if (!messages.doesExist(keyId)) keys.push(key);
    }
    await flush();
  };
  await orphans(content as Database<unknown, Key>, (key) => String((key as unknown[])[0]), 'orphan-content');
  await orphans(logs as Database<unknown, Key>, (key) => String((key as unknown[])[1]), 'orphan-log');

  return { messages: examined, problems, repaired };
}
