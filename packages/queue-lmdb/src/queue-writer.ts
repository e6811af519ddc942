/**
 * The queue writer: receives one message's content and commits it, with its
 * envelope, into a queue in one durable LMDB transaction (Postfix's cleanup
 * writing and then renaming its queue file, in one step).
 *
 * Content is copied into 64 KiB chunks as it arrives (the first one starts
 * small and grows, so small mail does not cost 64 KiB); nothing is
 * written to the database before commit, so an aborted or crashed writer
 * leaves nothing behind. Past the size limit the writer keeps counting bytes
 * but drops them, and commit() rejects with POSTERN_ERR_QUEUE_TOO_LARGE (the
 * SMTP server must read the data to the end anyway before it answers).
 */
import type { Envelope, QueuedMessage, QueueWriter } from '@postern/core';
import { posternError } from '@postern/core';
import { QUEUE, isQueueName } from '@postern/core';
import type { QueueName } from '@postern/core';
import { CHUNK_SIZE, indexKey, plain, writeFailure } from './queue-lmdb.js';
import type { QueueDbs, StoredMessage } from './queue-lmdb.js';

/** Initial size of a message's first content chunk (it grows up to CHUNK_SIZE). */
const FIRST_SIZE = 8 * 1024;

type WriterState = 'open' | 'committing' | 'committed' | 'aborted';

export class LmdbQueueWriter implements QueueWriter {
  readonly id: string;
  #size = 0;
  #state: WriterState = 'open';
  #chunks: Buffer[] = [];
  #current: Buffer | undefined;
  #fill = 0;

  constructor(
    id: string,
    private readonly dbs: QueueDbs,
    private readonly sizeLimit: number,
    private readonly committed: (message: QueuedMessage) => void,
  ) {
    this.id = id;
  }

  get size(): number {
    return this.#size;
  }

  #tooLarge(): boolean {
    return this.sizeLimit > 0 && this.#size > this.sizeLimit;
  }

  write(chunk: Buffer): void {
    if (this.#state !== 'open') throw posternError('POSTERN_ERR_QUEUE_WRITE', `${this.id}: writer is ${this.#state}`);
    this.#size += chunk.length;
    if (this.#tooLarge()) {
      this.#release();
      return;
    }
    let offset = 0;
    while (offset < chunk.length) {
      if (!this.#current) {
        // Most mail is far smaller than a chunk: start small unless the message
        // has already filled a chunk (a 64 KiB buffer per message costs the GC).
        const want = chunk.length - offset;
        const size = this.#chunks.length > 0 ? CHUNK_SIZE : Math.min(CHUNK_SIZE, Math.max(FIRST_SIZE, want));
        this.#current = Buffer.allocUnsafe(size);
        this.#fill = 0;
      } else if (this.#fill === this.#current.length) {
        // Grow the first chunk (doubling, so each byte is copied at most once more on average).
        const want = chunk.length - offset;
        const bigger = Buffer.allocUnsafe(Math.min(CHUNK_SIZE, Math.max(this.#current.length * 2, this.#fill + want)));
        this.#current.copy(bigger, 0, 0, this.#fill);
        this.#current = bigger;
      }
      const n = chunk.copy(this.#current, this.#fill, offset);
      this.#fill += n;
      offset += n;
      if (this.#fill === CHUNK_SIZE) {
        this.#chunks.push(this.#current);
        this.#current = undefined;
      }
    }
  }

  async commit(envelope: Envelope, queue: QueueName = QUEUE.INCOMING): Promise<QueuedMessage> {
    if (this.#state !== 'open') throw posternError('POSTERN_ERR_QUEUE_WRITE', `${this.id}: writer is ${this.#state}`);
    if (!isQueueName(queue)) throw posternError('POSTERN_ERR_QUEUE_BAD_NAME', queue);
    checkEnvelope(this.id, envelope);
    if (this.#tooLarge()) {
      this.#state = 'aborted';
      throw posternError('POSTERN_ERR_QUEUE_TOO_LARGE', this.sizeLimit);
    }
    this.#state = 'committing';
    if (this.#current && this.#fill > 0) this.#chunks.push(this.#current.subarray(0, this.#fill));
    this.#current = undefined;
    const chunks = this.#chunks;
    this.#chunks = [];
    const message: QueuedMessage = plain({ ...envelope, id: this.id, queue, size: this.#size });
    const record: StoredMessage = { message, chunks: chunks.length };
    const { messages, content, index } = this.dbs;
    let written: boolean;
    try {
      written = await messages.ifNoExists(this.id, () => {
        for (let n = 0; n < chunks.length; n++) content.put([this.id, n], chunks[n]);
        messages.put(this.id, record, 1);
        index[queue].put(indexKey(message), true);
      });
    } catch (err) {
      this.#state = 'aborted';
      throw posternError('POSTERN_ERR_QUEUE_WRITE', `${this.id}: ${await writeFailure(err)}`, err);
    }
    if (!written) {
      this.#state = 'aborted';
      throw posternError('POSTERN_ERR_QUEUE_WRITE', `${this.id}: queue ID already in use`);
    }
    this.#state = 'committed';
    this.committed(message);
    return message;
  }

  abort(): void {
    if (this.#state === 'open') this.#state = 'aborted';
    this.#release();
  }

  #release(): void {
    this.#chunks = [];
    this.#current = undefined;
    this.#fill = 0;
  }
}

/** Rejects an envelope that could not be read back as one. */
function checkEnvelope(id: string, envelope: Envelope): void {
  const bad = (what: string): never => {
    throw posternError('POSTERN_ERR_QUEUE_WRITE', `${id}: bad envelope: ${what}`);
  };
  if (envelope === null || typeof envelope !== 'object') bad('not an object');
  if (typeof envelope.sender !== 'string') bad('sender is not a string');
  if (!Array.isArray(envelope.recipients)) bad('recipients is not a list');
  for (const rcpt of envelope.recipients) if (typeof rcpt?.address !== 'string') bad('recipient without address');
  if (typeof envelope.arrivalTime !== 'number' || !Number.isFinite(envelope.arrivalTime)) bad('arrivalTime is not a time');
}
