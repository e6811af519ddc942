/**
 * The LMDB layout of the queue (queue_directory/queue.lmdb/).
 *
 * `queue.lmdb` is a directory holding LMDB's `data.mdb` and `lock.mdb`. One
 * environment, several named databases:
 *
 * | database          | key                      | value                                  |
 * |-------------------|--------------------------|----------------------------------------|
 * | `messages`        | queue ID                 | {@link StoredMessage} (msgpack, versioned) |
 * | `content`         | [queue ID, chunk number] | up to 64 KiB of content (binary)       |
 * | `logs`            | [log name, queue ID, n]  | a {@link DeliveryLogRecord}            |
 * | `queue/<name>`    | queue ID                 | `true` (maildrop, incoming, active, hold, corrupt) |
 * | `queue/deferred`  | [nextAttempt, queue ID]  | `true`                                 |
 *
 * A message is visible once its `messages` entry and its queue index entry
 * exist; both are written, with all its content, in one conditional batch
 * (`ifNoExists`) that lmdb-js commits in one transaction. Every later change
 * is conditional on the message's version (`ifVersion`), so read-modify-write
 * is atomic across processes without a JS lock, and many changes from one
 * process share one transaction and one fsync.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { open } from 'lmdb';
import type { Database, Key, RootDatabase } from 'lmdb';
import type { QueuedMessage, DeliveryLogRecord } from '@postern/core';
import { QUEUE, QUEUE_NAMES } from '@postern/core';
import type { QueueName } from '@postern/core';

/** Name of the LMDB environment directory under queue_directory. */
export const QUEUE_LMDB = 'queue.lmdb';
/** Content is stored in values of this many bytes (the last one may be shorter). */
export const CHUNK_SIZE = 64 * 1024;
/** Keys read per page by scans and checks: bounds memory for any queue length. */
export const PAGE_SIZE = 256;
/** Upper bound for the numeric part of composite keys. */
export const KEY_MAX = Number.MAX_SAFE_INTEGER;
/** Sorts after every queue ID (IDs are alphanumeric). */
export const ID_MAX = '~';

/** What the `messages` database holds for each message. */
export interface StoredMessage {
  readonly message: QueuedMessage;
  /** Number of content chunks. */
  readonly chunks: number;
}

export interface QueueDbs {
  /** The environment directory. */
  readonly path: string;
  readonly root: RootDatabase;
  readonly messages: Database<StoredMessage, string>;
  readonly content: Database<Buffer, Key>;
  readonly logs: Database<DeliveryLogRecord, Key>;
  readonly index: Readonly<Record<QueueName, Database<true, Key>>>;
}

/** Opens (creating if needed) the queue environment; no running mail system needed. */
export function openQueueDbs(queueDirectory: string, mapSize: number | undefined): QueueDbs {
  const path = join(queueDirectory, QUEUE_LMDB);
  mkdirSync(path, { recursive: true, mode: 0o700 });
  const root = open({
    path,
    noSubdir: false,
    maxDbs: 16,
    mapSize: mapSize ?? 1024 * 1024 * 1024,
    // Durability: commit promises resolve after mdb_txn_commit() has synced the
    // data and meta pages (no noSync/noMetaSync). overlappingSync would resolve
    // them before the fsync and hang them when the fsync fails.
    overlappingSync: false,
  });
  const index = {} as Record<QueueName, Database<true, Key>>;
  for (const name of QUEUE_NAMES) index[name] = root.openDB<true, Key>({ name: `queue/${name}` });
  return {
    path,
    root,
    messages: root.openDB<StoredMessage, string>({ name: 'messages', useVersions: true }),
    content: root.openDB<Buffer, Key>({ name: 'content', encoding: 'binary' }),
    logs: root.openDB<DeliveryLogRecord, Key>({ name: 'logs' }),
    index,
  };
}

/** The index key of a message in its queue: by ID, or by next attempt for deferred. */
export function indexKey(message: QueuedMessage): Key {
  return message.queue === QUEUE.DEFERRED ? [message.nextAttempt ?? 0, message.id] : message.id;
}

/** The queue ID inside an index key of `queue`. */
export function indexKeyId(queue: QueueName, key: Key): string {
  return queue === QUEUE.DEFERRED ? String((key as unknown[])[1]) : String(key);
}

export function keysEqual(a: Key | undefined, b: Key | undefined): boolean {
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((v, i) => v === b[i]);
  return a === b;
}

/** Drops undefined members (recursively) so records read back exactly as written. */
export function plain<T>(value: T): T {
  if (Array.isArray(value)) return value.map((v) => plain(v)) as T;
  if (value !== null && typeof value === 'object' && !Buffer.isBuffer(value)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = plain(v);
    return out as T;
  }
  return value;
}

/** A short text for an LMDB or system error. */
export function errorText(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return code && !err.message.includes(code) ? `${err.message} (${code})` : err.message;
  }
  return String(err);
}

/**
 * The text of a failed LMDB write. lmdb-js rejects each write of a failed
 * transaction with "Commit failed" and a `commitError` promise that rejects
 * with the cause (ENOSPC, EIO, ...) a moment later; that promise must be
 * handled, or the process dies of an unhandled rejection.
 */
export async function writeFailure(err: unknown): Promise<string> {
  const pending = (err as { commitError?: Promise<unknown> } | undefined)?.commitError;
  if (pending && typeof pending.then === 'function') {
    let timer: NodeJS.Timeout | undefined;
    const cause = await Promise.race([
      pending.then(
        () => undefined,
        (reason: unknown) => reason,
      ),
      new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), 1000);
      }),
    ]);
    clearTimeout(timer);
    if (cause !== undefined) return errorText(cause);
  }
  return errorText(err);
}
