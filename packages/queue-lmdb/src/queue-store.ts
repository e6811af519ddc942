/**
 * The LMDB queue store: Postfix's queue directories (maildrop, incoming,
 * active, deferred, hold, corrupt) and per-message logs (bounce, defer, trace)
 * as one LMDB environment under queue_directory. See queue-lmdb.ts for the
 * layout and the concurrency rules.
 */
import { EventEmitter } from 'node:events';
import type { Key } from 'lmdb';
import type { Logger } from '@postern/core';
import type {
  DeliveryLogRecord,
  QueuedMessage,
  QueueStateChange,
  QueueStore,
  QueueWriter,
  RecipientUpdate,
  ScanOptions,
} from '@postern/core';
import { posternError } from '@postern/core';
import { DELIVERY_LOG, QUEUE, isQueueName } from '@postern/core';
import type { DeliveryLogName, QueueName } from '@postern/core';
import { checkQueue } from './queue-check.js';
import type { QueueCheckReport } from '@postern/core';
import { isQueueId, newQueueId } from '@postern/core';
import { ID_MAX, KEY_MAX, PAGE_SIZE, errorText, indexKey, indexKeyId, keysEqual, openQueueDbs, plain, writeFailure } from './queue-lmdb.js';
import type { QueueDbs, StoredMessage } from './queue-lmdb.js';
import { LmdbQueueWriter } from './queue-writer.js';
import { QueueSpaceReporter } from './queue-space.js';

export interface QueueStoreOptions {
  /** queue_directory: the environment lives in `<queueDirectory>/queue.lmdb/`. */
  readonly queueDirectory: string;
  /** Initial LMDB map size in bytes (default 1 GiB; LMDB grows it as needed). */
  readonly mapSize?: number;
  readonly log?: Logger;
  /** message_size_limit in bytes for writers; 0 (the default) means no limit. */
  readonly messageSizeLimit?: number;
}

export interface WriterOptions {
  /** Overrides the store's messageSizeLimit for this message (0: no limit). */
  readonly sizeLimit?: number;
  /** Use this queue ID (made with newQueueId()) instead of a new one. */
  readonly queueId?: string;
}

export type CommitListener = (message: QueuedMessage) => void;

/** The LMDB queue store: the QueueStore contract plus notification and postsuper -s. */
export interface LmdbQueueStore extends QueueStore {
  /** The LMDB environment directory. */
  readonly path: string;
  createWriter(options?: WriterOptions): QueueWriter;
  /** Calls `listener` after each durable commit made through this store object; returns an unsubscribe function. */
  onCommit(listener: CommitListener): () => void;
  /** postsuper -s, checking only: reports structural problems without changing anything. */
  check(): Promise<QueueCheckReport>;
  /** postsuper -s: repairs what check() finds (see queue-check.ts). */
  repair(): Promise<QueueCheckReport>;
}

const LOG_NAMES: readonly string[] = Object.values(DELIVERY_LOG);

function assertId(id: string): void {
  if (!isQueueId(id)) throw posternError('POSTERN_ERR_QUEUE_BAD_ID', id);
}

function assertQueue(queue: string): asserts queue is QueueName {
  if (!isQueueName(queue)) throw posternError('POSTERN_ERR_QUEUE_BAD_NAME', queue);
}

function assertLog(log: string): void {
  if (!LOG_NAMES.includes(log)) throw posternError('POSTERN_ERR_QUEUE_BAD_NAME', log);
}

/** Opens the queue store in `<queueDirectory>/queue.lmdb`, creating it if needed. */
export function openQueueStore(options: QueueStoreOptions): LmdbQueueStore {
  let dbs: QueueDbs;
  try {
    dbs = openQueueDbs(options.queueDirectory, options.mapSize);
  } catch (err) {
    throw posternError('POSTERN_ERR_QUEUE_WRITE', `open ${options.queueDirectory}: ${errorText(err)}`, err);
  }
  return new LmdbStore(dbs, options);
}

class LmdbStore implements LmdbQueueStore {
  readonly path: string;
  readonly #events = new EventEmitter();
  #closed = false;

  readonly #space: QueueSpaceReporter;

  constructor(
    private readonly dbs: QueueDbs,
    private readonly options: QueueStoreOptions,
  ) {
    this.path = dbs.path;
    this.#events.setMaxListeners(0);
    this.#space = new QueueSpaceReporter(dbs, options.queueDirectory, options.log);
  }

  #open(): void {
    if (this.#closed) throw posternError('POSTERN_ERR_QUEUE_WRITE', 'the queue store is closed');
  }

  /** Sees the latest commits of other processes. */
  #fresh(): void {
    this.dbs.root.resetReadTxn();
  }

  createWriter(options?: WriterOptions): QueueWriter {
    this.#open();
    const limit = options?.sizeLimit ?? this.options.messageSizeLimit ?? 0;
    const id = options?.queueId ?? newQueueId();
    assertId(id);
    return new LmdbQueueWriter(id, this.dbs, limit, (message) => this.#emit(message));
  }

  #emit(message: QueuedMessage): void {
    this.#space.changed();
    for (const listener of this.#events.listeners('commit') as CommitListener[]) {
      try {
        listener(message);
      } catch (err) {
        this.options.log?.warn(`queue commit listener: ${errorText(err)}`);
      }
    }
  }

  onCommit(listener: CommitListener): () => void {
    this.#events.on('commit', listener);
    return () => this.#events.off('commit', listener);
  }

  async get(id: string): Promise<QueuedMessage | undefined> {
    assertId(id);
    this.#open();
    this.#fresh();
    return this.dbs.messages.get(id)?.message;
  }

  readContent(id: string): AsyncIterable<Buffer> {
    assertId(id);
    this.#open();
    return this.#content(id);
  }

  async *#content(id: string): AsyncGenerator<Buffer> {
    this.#fresh();
    const stored = this.dbs.messages.get(id);
    if (!stored) throw posternError('POSTERN_ERR_QUEUE_NOT_FOUND', id);
    let total = 0;
    for (let n = 0; n < stored.chunks; n++) {
      // getBinary copies the value out of the map once (get + Buffer.from copied it twice)
      const chunk = this.dbs.content.getBinary([id, n]);
      if (chunk === undefined) {
        if (!this.dbs.messages.get(id)) throw posternError('POSTERN_ERR_QUEUE_NOT_FOUND', id);
        throw posternError('POSTERN_ERR_QUEUE_CORRUPT', id, `content chunk ${n} of ${stored.chunks} is missing`);
      }
      total += chunk.length;
      yield chunk;
    }
    if (total !== stored.message.size) {
      throw posternError('POSTERN_ERR_QUEUE_CORRUPT', id, `content is ${total} bytes, expected ${stored.message.size}`);
    }
  }

  /**
   * Read-modify-write of one message, retried until no other writer (in any
   * process) changed it in between: `change` gets the stored record and
   * queues its writes, which commit only if the version is still the same.
   */
  async #update<T>(id: string, change: (stored: StoredMessage, version: number) => T): Promise<T | undefined> {
    const { messages } = this.dbs;
    for (;;) {
      this.#fresh();
      const entry = messages.getEntry(id);
      if (!entry) return undefined;
      const version = entry.version ?? 0;
      let result: T | undefined;
      let ok: boolean;
      try {
        ok = await messages.ifVersion(id, version, () => {
          result = change(entry.value, version);
        });
      } catch (err) {
        throw posternError('POSTERN_ERR_QUEUE_WRITE', `${id}: ${await writeFailure(err)}`, err);
      }
      if (ok) return result;
    }
  }

  async move(
    id: string,
    to: QueueName,
    state?: QueueStateChange,
  ): Promise<QueuedMessage | undefined> {
    assertId(id);
    assertQueue(to);
    this.#open();
    const { messages, index } = this.dbs;
    return this.#update(id, (stored, version) => {
      const message: QueuedMessage = plain({ ...stored.message, ...state, queue: to });
      const oldKey = indexKey(stored.message);
      const newKey = indexKey(message);
      if (stored.message.queue !== to || !keysEqual(oldKey, newKey)) {
        index[stored.message.queue].remove(oldKey);
        index[to].put(newKey, true);
      }
      messages.put(id, { message, chunks: stored.chunks }, version + 1);
      return message;
    });
  }

  async updateRecipients(id: string, updates: readonly RecipientUpdate[]): Promise<QueuedMessage | undefined> {
    assertId(id);
    this.#open();
    this.#fresh();
    const current = this.dbs.messages.get(id);
    if (!current) return undefined;
    for (const update of updates) {
      if (!Number.isInteger(update.index) || update.index < 0 || update.index >= current.message.recipients.length) {
        throw posternError('POSTERN_ERR_QUEUE_WRITE', `${id}: no recipient #${update.index}`);
      }
    }
    return this.#update(id, (stored, version) => {
      const recipients = stored.message.recipients.map((r) => ({ ...r }));
      for (const { index: i, done } of updates) {
        if (done === false) delete (recipients[i] as { done?: boolean }).done;
        else recipients[i] = { ...recipients[i], done: true };
      }
      const message: QueuedMessage = { ...stored.message, recipients };
      this.dbs.messages.put(id, { message, chunks: stored.chunks }, version + 1);
      return message;
    });
  }

  /** Keys of every delivery log record of `id`. */
  #logKeys(id: string): Key[] {
    const keys: Key[] = [];
    for (const log of LOG_NAMES) {
      for (const key of this.dbs.logs.getKeys({ start: [log, id, 0], end: [log, id, KEY_MAX] })) keys.push(key);
    }
    return keys;
  }

  async delete(id: string): Promise<boolean> {
    assertId(id);
    this.#open();
    const { messages, content, logs, index } = this.dbs;
    const done = await this.#update(id, (stored) => {
      messages.remove(id);
      index[stored.message.queue].remove(indexKey(stored.message));
      for (let n = 0; n < stored.chunks; n++) content.remove([id, n]);
      for (const key of this.#logKeys(id)) logs.remove(key);
      return true;
    });
    if (done === true) this.#space.changed();
    return done === true;
  }

  async *scan(queue: QueueName, options: ScanOptions = {}): AsyncGenerator<QueuedMessage> {
    assertQueue(queue);
    if (options.after !== undefined) assertId(options.after);
    this.#open();
    const { messages, index } = this.dbs;
    const db = index[queue];
    const deferred = queue === QUEUE.DEFERRED;
    const { dueBy, limit = Infinity } = options;
    let start: Key | undefined;
    let skip: Key | undefined;
    if (options.after !== undefined) {
      if (deferred) {
        this.#fresh();
        const after = messages.get(options.after)?.message;
        // Resume at the message's place in nextAttempt order; if it has left
        // the deferred queue, there is no place to resume at: start over.
        if (after?.queue === QUEUE.DEFERRED) start = indexKey(after);
      } else start = options.after;
      skip = start;
    }
    const end: Key | undefined = deferred && dueBy !== undefined ? [dueBy, ID_MAX] : undefined;
    let yielded = 0;
    while (yielded < limit && !this.#closed) {
      this.#fresh();
      const page: Key[] = [];
      for (const key of db.getKeys({ start, end, limit: PAGE_SIZE + 1, snapshot: false })) {
        if (page.length === 0 && skip !== undefined && keysEqual(key, skip)) continue;
        page.push(key);
        if (page.length === PAGE_SIZE) break;
      }
      if (page.length === 0) return;
      for (const key of page) {
        const stored = messages.get(indexKeyId(queue, key));
        if (!stored || stored.message.queue !== queue || !keysEqual(indexKey(stored.message), key)) continue;
        if (dueBy !== undefined && (stored.message.nextAttempt ?? 0) > dueBy) continue;
        yield stored.message;
        if (++yielded >= limit) return;
      }
      start = skip = page[page.length - 1];
      if (page.length < PAGE_SIZE) return;
      // Let the event loop go round between pages. lmdb-js arms a timer for
      // each read after a resetReadTxn (#fresh) and frees it only when the
      // timer runs: a caller that reads per message while it consumes the
      // scan (showq reads each message's defer log) and awaits nothing but
      // promises would pile up one timer per message until the scan ends.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  async count(queue: QueueName): Promise<number> {
    assertQueue(queue);
    this.#open();
    this.#fresh();
    return (this.dbs.index[queue].getStats() as { entryCount: number }).entryCount;
  }

  async appendLog(log: DeliveryLogName, id: string, record: DeliveryLogRecord): Promise<void> {
    assertLog(log);
    assertId(id);
    this.#open();
    const { messages, logs } = this.dbs;
    const done = await this.#update(id, (stored, version) => {
      let next = 0;
      for (const key of logs.getKeys({ start: [log, id, KEY_MAX], end: [log, id, -1], reverse: true, limit: 1 })) {
        next = Number((key as unknown[])[2]) + 1;
      }
      logs.put([log, id, next], plain(record));
      // Bumping the version orders appenders and makes a concurrent delete retry.
      messages.put(id, stored, version + 1);
      return true;
    });
    if (!done) throw posternError('POSTERN_ERR_QUEUE_NOT_FOUND', id);
  }

  async readLog(log: DeliveryLogName, id: string): Promise<DeliveryLogRecord[]> {
    assertLog(log);
    assertId(id);
    this.#open();
    this.#fresh();
    const out: DeliveryLogRecord[] = [];
    for (const { value } of this.dbs.logs.getRange({ start: [log, id, 0], end: [log, id, KEY_MAX] })) out.push(value);
    return out;
  }

  /**
   * Removes the records of one log. The message record is not rewritten: an
   * appender that read the last key before the removal still writes after
   * it (its record is newer than the reset), and a missing message leaves
   * only its leftover log to remove.
   */
  async deleteLog(log: DeliveryLogName, id: string): Promise<void> {
    assertLog(log);
    assertId(id);
    this.#open();
    const { logs } = this.dbs;
    this.#fresh();
    const keys = [...logs.getKeys({ start: [log, id, 0], end: [log, id, KEY_MAX] })];
    if (keys.length === 0) return;
    try {
      await logs.batch(() => {
        for (const key of keys) logs.remove(key);
      });
    } catch (err) {
      throw posternError('POSTERN_ERR_QUEUE_WRITE', `${id}: ${await writeFailure(err)}`, err);
    }
  }

  check(): Promise<QueueCheckReport> {
    this.#open();
    return checkQueue(this.dbs, { repair: false, log: this.options.log });
  }

  repair(): Promise<QueueCheckReport> {
    this.#open();
    return checkQueue(this.dbs, { repair: true, log: this.options.log });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#events.removeAllListeners();
    this.#space.stop();
    await this.dbs.root.close();
  }
}
