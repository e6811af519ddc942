/**
 * The Redis queue store: Postfix's queues (maildrop, incoming, active,
 * deferred, hold, corrupt) shared by every node that points at one Redis
 * (standalone or Cluster). See queue-redis-keys.ts for the layout and
 * queue-redis-scripts.ts for the atomic operations.
 *
 * - commit: the content goes to a staging key and the message record and
 *   its index entry are created by one script, all in one MULTI (one round
 *   trip, one slot); the promise resolves after Redis answered EXEC (with
 *   appendfsync always: after the AOF fsync) and, with `waitReplicas`, after
 *   WAIT saw that many replicas acknowledge it. Only then is 250 allowed.
 * - leases: a queue manager that moves a message into the active queue
 *   becomes its owner and holds a lease (renewed every lease/3 while the
 *   process lives). Another node cannot take it or send it back to incoming
 *   while the lease lives; once it has expired (the node died), any node's
 *   reaper returns the message to incoming and its queue manager takes it.
 * - failures: every Redis error (down, failing over, timed out) rejects the
 *   operation with POSTERN_ERR_QUEUE_WRITE, which smtpd answers with 451
 *   and qmgr treats as a deferral; nothing is retried behind the caller's back.
 */
import { randomBytes } from 'node:crypto';
import {
  DELIVERY_LOG,
  isQueueId,
  isQueueName,
  newQueueId,
  posternError,
  QUEUE,
  QUEUE_NAMES,
  queueIdTime,
  type DeliveryLogName,
  type DeliveryLogRecord,
  type Envelope,
  type Logger,
  type QueuedMessage,
  type QueueName,
  type QueueStore,
  type QueueWriter,
  type Recipient,
  type RecipientUpdate,
  type ScanOptions,
} from '@postern/core';
import { closeRedis, openRedis, redisErrorText, waitReplicas, type RedisClient, type RedisServerOptions } from '@postern/redis';
import { CHUNK_SIZE, QueueKeys } from './queue-redis-keys.js';
import { APPEND_LOG, COMMIT, DELETE, MOVE, REAP, RECIPIENTS, RENEW } from './queue-redis-scripts.js';

export interface RedisQueueStoreOptions {
  readonly server: RedisServerOptions;
  /** Key prefix (the hash tags are "{prefix:shard}"). */
  readonly prefix?: string;
  /** Number of shards (fixed for the life of the queue: changing it hides existing mail). */
  readonly shards?: number;
  /** This node's name: the owner of the messages its queue manager takes. */
  readonly node: string;
  /** Lease time in ms (default 60 s). */
  readonly leaseTime?: number;
  /** WAIT numreplicas after every commit (0: do not wait). */
  readonly waitReplicas?: number;
  /** WAIT timeout in ms. */
  readonly waitTimeout?: number;
  /** message_size_limit for writers; 0 means no limit. */
  readonly messageSizeLimit?: number;
  readonly log?: Logger;
  /** An existing client to use (not closed by close()). */
  readonly client?: RedisClient;
}

const LOG_NAMES: readonly string[] = Object.values(DELIVERY_LOG);
/** Index entries read per shard per page of a scan. */
const PAGE = 256;
/** Content chunks read per round trip. */
const READ_CHUNKS = 16;
/** Messages one reaper pass moves per shard. */
const REAP_LIMIT = 1000;

type StateChange = { nextAttempt?: number; reason?: string; warned?: number; attempts?: number; expired?: number };
const STATE_FIELDS: Record<keyof StateChange, string> = { nextAttempt: 'next', reason: 'reason', warned: 'warned', attempts: 'attempts', expired: 'expired' };

interface Scripted {
  pqCommit(m: string, c: string, staged: string, index: string, ...argv: (string | number)[]): Promise<number>;
  pqMove(...args: (string | number)[]): Promise<string[] | null>;
  pqRecipients(m: string, ...argv: (string | number)[]): Promise<string[] | null>;
  pqDelete(...args: string[]): Promise<number>;
  pqAppendLog(m: string, l: string, record: string): Promise<number>;
  pqRenew(hb: string, node: string, lease: number): Promise<number>;
  pqReap(hb: string, active: string, incoming: string, prefix: string, limit: number): Promise<number>;
}

function plain<T>(value: T): T {
  if (Array.isArray(value)) return value.map((v) => plain(v)) as T;
  if (value !== null && typeof value === 'object' && !Buffer.isBuffer(value)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = plain(v);
    return out as T;
  }
  return value;
}

function assertId(id: string): void {
  if (!isQueueId(id)) throw posternError('POSTERN_ERR_QUEUE_BAD_ID', id);
}
function assertQueue(queue: string): asserts queue is QueueName {
  if (!isQueueName(queue)) throw posternError('POSTERN_ERR_QUEUE_BAD_NAME', queue);
}
function assertLog(log: string): void {
  if (!LOG_NAMES.includes(log)) throw posternError('POSTERN_ERR_QUEUE_BAD_NAME', log);
}

/** Rejects an envelope that could not be read back as one (as the LMDB writer does). */
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

/** HGETALL's flat answer as a message. */
function toMessage(id: string, flat: readonly string[] | Record<string, string> | null): QueuedMessage | undefined {
  if (!flat) return undefined;
  const h: Record<string, string> = {};
  if (Array.isArray(flat)) for (let i = 0; i + 1 < flat.length; i += 2) h[flat[i]!] = flat[i + 1]!;
  else Object.assign(h, flat);
  if (h.env === undefined || h.queue === undefined) return undefined;
  const env = JSON.parse(h.env) as Envelope;
  const done = h.done ?? '';
  const recipients: Recipient[] = env.recipients.map((r, i) => (done[i] === '1' ? { ...r, done: true } : r));
  const state: StateChange = {};
  if (h.next !== undefined) state.nextAttempt = Number(h.next);
  if (h.reason !== undefined) state.reason = h.reason;
  if (h.warned !== undefined) state.warned = Number(h.warned);
  if (h.attempts !== undefined) state.attempts = Number(h.attempts);
  if (h.expired !== undefined) state.expired = Number(h.expired);
  return { ...env, recipients, id, queue: h.queue as QueueName, size: Number(h.size ?? 0), ...state };
}

function failed(what: string, err: unknown): Error {
  if ((err as { code?: string })?.code?.startsWith?.('POSTERN_ERR_')) return err as Error;
  return posternError('POSTERN_ERR_QUEUE_WRITE', `${what}: redis: ${redisErrorText(err)}`, err);
}

export class RedisQueueStore implements QueueStore {
  readonly keys: QueueKeys;
  readonly node: string;
  readonly leaseTime: number;
  readonly #redis: RedisClient & Scripted;
  readonly #own: boolean;
  #closed = false;
  #holding = false;
  #renewTimer: NodeJS.Timeout | undefined;
  #reapTimer: NodeJS.Timeout | undefined;
  readonly #workListeners = new Set<() => void>();

  constructor(private readonly options: RedisQueueStoreOptions) {
    this.keys = new QueueKeys(options.prefix ?? 'postern', Math.max(1, options.shards ?? 16));
    this.node = options.node;
    this.leaseTime = options.leaseTime ?? 60_000;
    this.#own = !options.client;
    const client = options.client ?? openRedis({ ...options.server, name: options.server.name ?? `postern-queue:${options.node}` });
    client.on('error', (err: unknown) => options.log?.debug?.(`redis queue: ${redisErrorText(err)}`));
    const define = (name: string, numberOfKeys: number | undefined, lua: string) => {
      if (!(name in client)) client.defineCommand(name, numberOfKeys === undefined ? { lua } : { numberOfKeys, lua });
    };
    define('pqCommit', 4, COMMIT);
    define('pqMove', 8, MOVE);
    define('pqRecipients', 1, RECIPIENTS);
    define('pqDelete', 11, DELETE);
    define('pqAppendLog', 2, APPEND_LOG);
    define('pqRenew', 1, RENEW);
    define('pqReap', 3, REAP);
    this.#redis = client as RedisClient & Scripted;
  }

  get client(): RedisClient {
    return this.#redis;
  }

  #open(): void {
    if (this.#closed) throw posternError('POSTERN_ERR_QUEUE_WRITE', 'the queue store is closed');
  }

  #indexes(shard: number): string[] {
    return QUEUE_NAMES.map((q) => this.keys.queue(shard, q));
  }

  createWriter(options?: { readonly queueId?: string; readonly sizeLimit?: number }): QueueWriter {
    this.#open();
    const id = options?.queueId ?? newQueueId();
    assertId(id);
    return new RedisQueueWriter(id, options?.sizeLimit ?? this.options.messageSizeLimit ?? 0, (envelope, queue, chunks, size) =>
      this.#commit(id, envelope, queue, chunks, size),
    );
  }

  async #commit(id: string, envelope: Envelope, queue: QueueName, chunks: Buffer[], size: number): Promise<QueuedMessage> {
    const k = this.keys;
    const message: QueuedMessage = plain({ ...envelope, id, queue, size });
    const stored = plain({ ...envelope, recipients: envelope.recipients.map(({ done: _done, ...r }) => r) });
    const done = envelope.recipients.map((r) => (r.done ? '1' : '0')).join('');
    const staged = `${k.tag(k.shardOf(id))}:t:${id}:${randomBytes(6).toString('hex')}`;
    let written: number;
    try {
      const multi = this.#redis.multi();
      if (chunks.length > 0) {
        for (let i = 0; i < chunks.length; i += 16) multi.rpush(staged, ...chunks.slice(i, i + 16));
        multi.pexpire(staged, 3_600_000);
      }
      // queued on the MULTI; its result comes from exec()
      void (multi as unknown as Scripted).pqCommit(k.message(id), k.content(id), staged, k.queueOf(id, queue), id, queue, JSON.stringify(stored), size, chunks.length, done);
      const results = await multi.exec();
      if (!results) throw new Error('transaction aborted');
      const last = results[results.length - 1]!;
      if (last[0]) throw last[0];
      for (const [err] of results) if (err) throw err;
      written = Number(last[1]);
      if (written === 1) await waitReplicas(this.#redis, k.message(id), this.options.waitReplicas ?? 0, this.options.waitTimeout ?? 1000);
    } catch (err) {
      throw failed(id, err);
    }
    if (written !== 1) throw posternError('POSTERN_ERR_QUEUE_WRITE', `${id}: queue ID already in use`);
    return message;
  }

  async get(id: string): Promise<QueuedMessage | undefined> {
    assertId(id);
    this.#open();
    try {
      return toMessage(id, await this.#redis.hgetall(this.keys.message(id)));
    } catch (err) {
      throw failed(id, err);
    }
  }

  readContent(id: string): AsyncIterable<Buffer> {
    assertId(id);
    this.#open();
    return this.#content(id);
  }

  async *#content(id: string): AsyncGenerator<Buffer> {
    let head: [string | null, string | null];
    try {
      head = (await this.#redis.hmget(this.keys.message(id), 'chunks', 'size')) as [string | null, string | null];
    } catch (err) {
      throw failed(id, err);
    }
    if (head[0] === null) throw posternError('POSTERN_ERR_QUEUE_NOT_FOUND', id);
    const chunks = Number(head[0]);
    const size = Number(head[1]);
    const key = this.keys.content(id);
    let total = 0;
    for (let n = 0; n < chunks; n += READ_CHUNKS) {
      let part: Buffer[];
      try {
        part = await this.#redis.lrangeBuffer(key, n, Math.min(chunks, n + READ_CHUNKS) - 1);
      } catch (err) {
        throw failed(id, err);
      }
      if (part.length < Math.min(READ_CHUNKS, chunks - n)) {
        if (!(await this.#redis.exists(this.keys.message(id)))) throw posternError('POSTERN_ERR_QUEUE_NOT_FOUND', id);
        throw posternError('POSTERN_ERR_QUEUE_CORRUPT', id, `content chunk ${n + part.length} of ${chunks} is missing`);
      }
      for (const chunk of part) {
        total += chunk.length;
        yield chunk;
      }
    }
    if (total !== size) throw posternError('POSTERN_ERR_QUEUE_CORRUPT', id, `content is ${total} bytes, expected ${size}`);
  }

  async move(id: string, to: QueueName, state?: StateChange): Promise<QueuedMessage | undefined> {
    assertId(id);
    assertQueue(to);
    this.#open();
    const set: string[] = [];
    const clear: string[] = [];
    for (const [name, field] of Object.entries(STATE_FIELDS) as [keyof StateChange, string][]) {
      if (!state || !(name in state)) continue;
      const v = state[name];
      if (v === undefined) clear.push(field);
      else set.push(field, String(v));
    }
    const shard = this.keys.shardOf(id);
    let flat: string[] | null;
    try {
      flat = await this.#redis.pqMove(
        this.keys.message(id),
        this.keys.leases(shard),
        ...this.#indexes(shard),
        id,
        to,
        this.node,
        this.leaseTime,
        set.length / 2,
        ...set,
        clear.length,
        ...clear,
      );
    } catch (err) {
      throw failed(id, err);
    }
    const message = toMessage(id, flat);
    if (message && to === QUEUE.ACTIVE) this.#hold();
    return message;
  }

  async updateRecipients(id: string, updates: readonly RecipientUpdate[]): Promise<QueuedMessage | undefined> {
    assertId(id);
    this.#open();
    const argv: (string | number)[] = [];
    for (const u of updates) {
      if (!Number.isInteger(u.index) || u.index < 0) throw posternError('POSTERN_ERR_QUEUE_WRITE', `${id}: no recipient #${u.index}`);
      argv.push(u.index, u.done === false ? '0' : '1');
    }
    try {
      return toMessage(id, await this.#redis.pqRecipients(this.keys.message(id), ...argv));
    } catch (err) {
      if (/no recipient #/.test(redisErrorText(err))) throw posternError('POSTERN_ERR_QUEUE_WRITE', `${id}: ${redisErrorText(err)}`);
      throw failed(id, err);
    }
  }

  async delete(id: string): Promise<boolean> {
    assertId(id);
    this.#open();
    const k = this.keys;
    try {
      const n = await this.#redis.pqDelete(
        k.message(id),
        k.content(id),
        ...LOG_NAMES.map((l) => k.log(l, id)),
        ...this.#indexes(k.shardOf(id)),
        id,
      );
      return n === 1;
    } catch (err) {
      throw failed(id, err);
    }
  }

  async *scan(queue: QueueName, options: ScanOptions = {}): AsyncGenerator<QueuedMessage> {
    assertQueue(queue);
    if (options.after !== undefined) assertId(options.after);
    this.#open();
    const deferred = queue === QUEUE.DEFERRED;
    const { dueBy, limit = Infinity } = options;
    let after: { score: number; id: string } | undefined;
    if (options.after !== undefined) {
      if (deferred) {
        const m = await this.get(options.after);
        // Resume at the message's place in next-attempt order; gone from deferred: start over.
        if (m?.queue === QUEUE.DEFERRED) after = { score: m.nextAttempt ?? 0, id: m.id };
      } else after = { score: 0, id: options.after };
    }
    const cursors = Array.from({ length: this.keys.shards }, (_, shard) => new ShardCursor(this.#redis, this.keys.queue(shard, queue), deferred, dueBy, after));
    let yielded = 0;
    while (yielded < limit && !this.#closed) {
      // Merge the shards' heads into one page in index order.
      const page: { id: string; score: number }[] = [];
      while (page.length < PAGE) {
        let best: ShardCursor | undefined;
        for (const c of cursors) {
          const head = await c.head();
          if (!head) continue;
          const b = best?.peek();
          if (!b || head.score < b.score || (head.score === b.score && head.id < b.id)) best = c;
        }
        if (!best) break;
        page.push(best.shift()!);
      }
      if (page.length === 0) return;
      let found: Record<string, string>[];
      try {
        found = await Promise.all(page.map((e) => this.#redis.hgetall(this.keys.message(e.id))));
      } catch (err) {
        throw failed(`scan ${queue}`, err);
      }
      for (let i = 0; i < page.length; i++) {
        const m = toMessage(page[i]!.id, found[i]!);
        if (!m || m.queue !== queue) continue;
        if (dueBy !== undefined && (m.nextAttempt ?? 0) > dueBy) continue;
        yield m;
        if (++yielded >= limit) return;
      }
    }
  }

  async count(queue: QueueName): Promise<number> {
    assertQueue(queue);
    this.#open();
    try {
      const counts = await Promise.all(Array.from({ length: this.keys.shards }, (_, s) => this.#redis.zcard(this.keys.queue(s, queue))));
      return counts.reduce((a, b) => a + Number(b), 0);
    } catch (err) {
      throw failed(`count ${queue}`, err);
    }
  }

  async appendLog(log: DeliveryLogName, id: string, record: DeliveryLogRecord): Promise<void> {
    assertLog(log);
    assertId(id);
    this.#open();
    let n: number;
    try {
      n = await this.#redis.pqAppendLog(this.keys.message(id), this.keys.log(log, id), JSON.stringify(plain(record)));
    } catch (err) {
      throw failed(id, err);
    }
    if (!n) throw posternError('POSTERN_ERR_QUEUE_NOT_FOUND', id);
  }

  async readLog(log: DeliveryLogName, id: string): Promise<DeliveryLogRecord[]> {
    assertLog(log);
    assertId(id);
    this.#open();
    try {
      return (await this.#redis.lrange(this.keys.log(log, id), 0, -1)).map((r) => JSON.parse(r) as DeliveryLogRecord);
    } catch (err) {
      throw failed(id, err);
    }
  }

  async deleteLog(log: DeliveryLogName, id: string): Promise<void> {
    assertLog(log);
    assertId(id);
    this.#open();
    try {
      await this.#redis.del(this.keys.log(log, id));
    } catch (err) {
      throw failed(id, err);
    }
  }

  /**
   * Calls `listener` when work appeared that no local trigger announced:
   * messages returned from a dead node's active queue, or mail another node
   * accepted and left in incoming longer than a lease. Subscribing starts
   * the reaper (the queue manager subscribes; other processes do not reap).
   */
  onForeignWork(listener: () => void): () => void {
    this.#workListeners.add(listener);
    if (!this.#reapTimer) {
      this.#reapTimer = setInterval(() => void this.reap().catch(() => undefined), Math.max(200, Math.floor(this.leaseTime / 3)));
      this.#reapTimer.unref();
    }
    return () => {
      this.#workListeners.delete(listener);
      if (this.#workListeners.size === 0 && this.#reapTimer) {
        clearInterval(this.#reapTimer);
        this.#reapTimer = undefined;
      }
    };
  }

  /** One reaper pass over every shard; returns how many messages went back to incoming. */
  async reap(): Promise<number> {
    if (this.#closed) return 0;
    const k = this.keys;
    let moved = 0;
    let stale = false;
    const cutoff = Date.now() - this.leaseTime;
    for (let s = 0; s < k.shards; s++) {
      moved += Number(await this.#redis.pqReap(k.leases(s), k.queue(s, QUEUE.ACTIVE), k.queue(s, QUEUE.INCOMING), `${k.tag(s)}:m:`, REAP_LIMIT));
      const first = await this.#redis.zrange(k.queue(s, QUEUE.INCOMING), 0, 0);
      const born = first[0] !== undefined ? queueIdTime(first[0]) : undefined;
      if (born !== undefined && born < cutoff) stale = true;
    }
    if (moved > 0) this.options.log?.info(`redis queue: ${moved} message(s) returned from expired leases to incoming`);
    if (moved > 0 || stale) for (const l of this.#workListeners) l();
    return moved;
  }

  /** This process holds leases: keep them alive for as long as it lives. */
  #hold(): void {
    if (this.#holding) return;
    this.#holding = true;
    this.#renewTimer = setInterval(() => void this.#renew(), Math.max(100, Math.floor(this.leaseTime / 3)));
    this.#renewTimer.unref();
  }

  async #renew(): Promise<void> {
    for (let s = 0; s < this.keys.shards && !this.#closed; s++) {
      try {
        await this.#redis.pqRenew(this.keys.leases(s), this.node, this.leaseTime);
      } catch (err) {
        this.options.log?.warn(`redis queue: lease renewal: ${redisErrorText(err)}`);
        return;
      }
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#renewTimer);
    clearInterval(this.#reapTimer);
    this.#workListeners.clear();
    if (this.#own) await closeRedis(this.#redis);
  }
}

/** One shard's index, read a page at a time in (score, id) order. */
class ShardCursor {
  #buf: { id: string; score: number }[] = [];
  #done = false;
  /** Lexicographic queues: the last ID read. Deferred: the last score read and how many members with it were read. */
  #lastId: string | undefined;
  #lastScore: number | undefined;
  #atScore = 0;
  readonly #skip: { score: number; id: string } | undefined;

  constructor(
    private readonly redis: RedisClient,
    private readonly key: string,
    private readonly deferred: boolean,
    private readonly dueBy: number | undefined,
    after: { score: number; id: string } | undefined,
  ) {
    if (after) {
      if (deferred) {
        this.#lastScore = after.score;
        this.#skip = after;
      } else this.#lastId = after.id;
    }
  }

  peek(): { id: string; score: number } | undefined {
    return this.#buf[0];
  }

  shift(): { id: string; score: number } | undefined {
    return this.#buf.shift();
  }

  async head(): Promise<{ id: string; score: number } | undefined> {
    if (this.#buf.length === 0 && !this.#done) await this.#fill();
    return this.#buf[0];
  }

  async #fill(): Promise<void> {
    try {
      if (!this.deferred) {
        const min = this.#lastId === undefined ? '-' : `(${this.#lastId}`;
        const ids = await this.redis.zrangebylex(this.key, min, '+', 'LIMIT', 0, PAGE);
        if (ids.length < PAGE) this.#done = true;
        if (ids.length > 0) this.#lastId = ids[ids.length - 1];
        this.#buf = ids.map((id) => ({ id, score: 0 }));
        return;
      }
      const min = this.#lastScore === undefined ? '-inf' : String(this.#lastScore);
      const max = this.dueBy === undefined ? '+inf' : String(this.dueBy);
      const flat = await this.redis.zrangebyscore(this.key, min, max, 'WITHSCORES', 'LIMIT', this.#atScore, PAGE);
      const got: { id: string; score: number }[] = [];
      for (let i = 0; i + 1 < flat.length; i += 2) got.push({ id: flat[i]!, score: Number(flat[i + 1]) });
      if (got.length < PAGE) this.#done = true;
      for (const e of got) {
        if (e.score === this.#lastScore) this.#atScore++;
        else {
          this.#lastScore = e.score;
          this.#atScore = 1;
        }
      }
      const skip = this.#skip;
      this.#buf = skip ? got.filter((e) => e.score > skip.score || (e.score === skip.score && e.id > skip.id)) : got;
    } catch (err) {
      throw failed(`scan ${this.key}`, err);
    }
  }
}

/** Buffers one message's content (64 KiB chunks) and commits it with its envelope. */
class RedisQueueWriter implements QueueWriter {
  #size = 0;
  #state: 'open' | 'committing' | 'committed' | 'aborted' = 'open';
  #chunks: Buffer[] = [];
  #pending: Buffer[] = [];
  #pendingBytes = 0;

  constructor(
    readonly id: string,
    private readonly sizeLimit: number,
    private readonly commitFn: (envelope: Envelope, queue: QueueName, chunks: Buffer[], size: number) => Promise<QueuedMessage>,
  ) {}

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
      this.#chunks = [];
      this.#pending = [];
      this.#pendingBytes = 0;
      return;
    }
    // Copy: the caller may reuse its buffer.
    this.#pending.push(Buffer.from(chunk));
    this.#pendingBytes += chunk.length;
    while (this.#pendingBytes >= CHUNK_SIZE) this.#cut(CHUNK_SIZE);
  }

  /** Moves `n` bytes from the pending buffers into one chunk. */
  #cut(n: number): void {
    const all = this.#pending.length === 1 ? this.#pending[0]! : Buffer.concat(this.#pending, this.#pendingBytes);
    this.#chunks.push(all.subarray(0, n));
    const rest = all.subarray(n);
    this.#pending = rest.length > 0 ? [rest] : [];
    this.#pendingBytes = rest.length;
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
    if (this.#pendingBytes > 0) this.#cut(this.#pendingBytes);
    const chunks = this.#chunks;
    this.#chunks = [];
    try {
      const message = await this.commitFn(envelope, queue, chunks, this.#size);
      this.#state = 'committed';
      return message;
    } catch (err) {
      this.#state = 'aborted';
      throw err;
    }
  }

  abort(): void {
    if (this.#state === 'open') this.#state = 'aborted';
    this.#chunks = [];
    this.#pending = [];
    this.#pendingBytes = 0;
  }
}
