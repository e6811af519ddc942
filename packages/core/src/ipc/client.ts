/**
 * The client side of Postern's IPC: a lazily opened, multiplexed connection to
 * one service's unix socket. A call sends its arguments and optionally a body
 * stream; it resolves with the service's reply, after interim events and answer
 * data have been delivered to the callbacks. Calls in flight fail with a coded
 * error when the service goes away; the next call reconnects.
 */
import { connect, type Socket } from 'node:net';
import { posternError, PosternError, type ErrorCode } from '../errors.js';
import { DATA_CHUNK, encodeFrame, encodeJson, FRAME, FrameDecoder, writeDataFrame, writeFrame, type Frame, type WireError } from './frame.js';

export interface CallOptions {
  /** Bytes to stream with the call. */
  readonly body?: AsyncIterable<Buffer> | Buffer;
  /**
   * Interim values the service emits before its reply. A promise returned
   * holds the connection (no more is read) until it settles: a consumer that
   * writes to a slow pipe slows the service down instead of buffering.
   */
  readonly onEvent?: (event: any) => unknown;
  /** Answer bytes the service streams before its reply. */
  readonly onData?: (data: Buffer) => void;
  /** Milliseconds without any frame for this call before it fails; 0 = none. */
  readonly timeout?: number;
  readonly signal?: AbortSignal;
  /**
   * The call may be made again (a lookup, no body): when the service went away
   * before it answered, or cannot be reached, it is retried on a new
   * connection (Postfix's clnt_stream clients try again too).
   */
  readonly idempotent?: boolean;
}

/** Attempts of an idempotent call, and the pause between them (ms). */
const RETRIES = 3;
const RETRY_PAUSE = 500;
const RETRYABLE: ReadonlySet<string> = new Set(['POSTERN_ERR_IPC_PEER_GONE', 'POSTERN_ERR_IPC_CONNECT']);

interface Pending {
  readonly method: string;
  readonly resolve: (value: any) => void;
  readonly reject: (err: Error) => void;
  readonly options: CallOptions;
  timer?: NodeJS.Timeout;
}

export interface IpcClientOptions {
  /** Default per-call timeout in ms (ipc_timeout); 0 = none. */
  readonly timeout?: number;
  /** Close the connection after this many ms without calls (ipc_idle); 0 = keep. */
  readonly idle?: number;
}

export class IpcClient {
  private socket: Socket | undefined;
  private connecting: Promise<Socket> | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private idleTimer: NodeJS.Timeout | undefined;
  private holds = 0;

  /**
   * @param service the service name, for messages
   * @param path the unix socket path (queue_directory/public|private/NAME)
   */
  constructor(
    readonly service: string,
    readonly path: string,
    private readonly options: IpcClientOptions = {},
  ) {}

  async call<T = unknown>(method: string, args?: unknown, options: CallOptions = {}): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.callOnce<T>(method, args, options);
      } catch (err) {
        const again = options.idempotent && options.body === undefined && attempt < RETRIES && err instanceof PosternError && RETRYABLE.has(err.code);
        if (!again || options.signal?.aborted) throw err;
        await new Promise((r) => setTimeout(r, RETRY_PAUSE));
      }
    }
  }

  private callOnce<T>(method: string, args: unknown, options: CallOptions): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (options.signal?.aborted) return reject(new Error('aborted'));
      this.open().then((socket) => {
        const id = this.nextId++;
        if (this.nextId > 0xfffffff0) this.nextId = 1;
        const p: Pending = { method, resolve, reject, options };
        this.pending.set(id, p);
        this.clearIdle();
        this.armTimer(id, p);
        options.signal?.addEventListener('abort', () => this.cancel(id, new Error('aborted')), { once: true });
        const hasBody = options.body !== undefined;
        writeFrame(socket, encodeJson(FRAME.CALL, id, { m: method, a: args, b: hasBody }));
        // pump() settles the call itself on failure
        if (hasBody) void this.pump(socket, id, options.body!);
      }, reject);
    });
  }

  /** Closes the connection; calls in flight fail. */
  close(): void {
    this.clearIdle();
    this.socket?.destroy();
    this.socket = undefined;
  }

  get inFlight(): number {
    return this.pending.size;
  }

  private open(): Promise<Socket> {
    if (this.socket && !this.socket.destroyed) return Promise.resolve(this.socket);
    if (this.connecting) return this.connecting;
    this.connecting = new Promise<Socket>((resolve, reject) => {
      const socket = connect(this.path);
      const decoder = new FrameDecoder(`${this.service} client`);
      const onError = (err: NodeJS.ErrnoException) => {
        this.connecting = undefined;
        reject(posternError('POSTERN_ERR_IPC_CONNECT', this.service, this.path, err.code ?? err.message));
      };
      socket.once('error', onError);
      socket.once('connect', () => {
        socket.off('error', onError);
        socket.on('error', () => undefined);
        this.socket = socket;
        this.connecting = undefined;
        resolve(socket);
      });
      socket.on('data', (chunk: Buffer) => {
        try {
          decoder.push(chunk, (f) => this.onFrame(f));
        } catch (err) {
          socket.destroy(err as Error);
        }
      });
      socket.on('close', () => {
        if (this.socket === socket) this.socket = undefined;
        const count = this.pending.size;
        if (count === 0) return;
        const err = posternError('POSTERN_ERR_IPC_PEER_GONE', this.service, count);
        for (const [id, p] of this.pending) this.settle(id, p, err);
      });
    });
    return this.connecting;
  }

  private async pump(socket: Socket, id: number, body: AsyncIterable<Buffer> | Buffer): Promise<void> {
    const send = async (chunk: Buffer) => {
      for (let off = 0; off < chunk.length; off += DATA_CHUNK) {
        if (!this.pending.has(id) || socket.destroyed) return false;
        if (!writeDataFrame(socket, id, chunk.subarray(off, off + DATA_CHUNK))) {
          await new Promise<void>((resolve) => {
            const done = () => (socket.off('drain', done), socket.off('close', done), resolve());
            socket.on('drain', done);
            socket.on('close', done);
          });
        }
      }
      return true;
    };
    try {
      if (Buffer.isBuffer(body)) await send(body);
      else for await (const chunk of body) if (!(await send(chunk))) return;
      if (this.pending.has(id) && !socket.destroyed) writeFrame(socket, encodeFrame(FRAME.END, id));
    } catch (err) {
      // The body's producer failed (e.g. the SMTP client went away mid-DATA): abandon the call.
      this.cancel(id, err instanceof Error ? err : new Error(String(err)));
    }
  }

  private cancel(id: number, err: Error): void {
    const p = this.pending.get(id);
    if (!p) return;
    if (this.socket && !this.socket.destroyed) writeFrame(this.socket, encodeFrame(FRAME.CANCEL, id));
    this.settle(id, p, err);
  }

  private armTimer(id: number, p: Pending): void {
    const ms = p.options.timeout ?? this.options.timeout ?? 0;
    if (!ms) return;
    if (p.timer) p.timer.refresh();
    else {
      p.timer = setTimeout(
        () => this.cancel(id, posternError('POSTERN_ERR_IPC_TIMEOUT', this.service, p.method, `${ms}ms`)),
        ms,
      );
    }
  }

  private onFrame(frame: Frame): void {
    const p = this.pending.get(frame.id);
    if (!p) return;
    this.armTimer(frame.id, p);
    switch (frame.kind) {
      case FRAME.EVENT: {
        const wait = p.options.onEvent?.(JSON.parse(frame.payload.toString('utf8')));
        if (wait instanceof Promise) this.holdFor(wait);
        return;
      }
      case FRAME.DATA:
        p.options.onData?.(Buffer.from(frame.payload));
        return;
      case FRAME.REPLY:
        this.settle(frame.id, p, undefined, JSON.parse(frame.payload.toString('utf8')));
        return;
      case FRAME.ERROR: {
        const wire = JSON.parse(frame.payload.toString('utf8')) as WireError;
        const err = wire.code
          ? new PosternError(wire.code as ErrorCode, wire.message, wire.hint)
          : posternError('POSTERN_ERR_IPC_REMOTE', this.service, wire.message);
        this.settle(frame.id, p, err);
        return;
      }
    }
  }

  /** Reads nothing more from the connection until `wait` (and every other hold) has settled. */
  private holdFor(wait: Promise<unknown>): void {
    const socket = this.socket;
    if (!socket) return;
    if (this.holds++ === 0) socket.pause();
    const release = () => {
      if (--this.holds === 0 && !socket.destroyed) socket.resume();
    };
    wait.then(release, release);
  }

  private settle(id: number, p: Pending, err?: Error, value?: unknown): void {
    this.pending.delete(id);
    if (p.timer) clearTimeout(p.timer);
    if (err) p.reject(err);
    else p.resolve(value);
    if (this.pending.size === 0) this.armIdle();
  }

  private armIdle(): void {
    const idle = this.options.idle ?? 0;
    if (!idle || !this.socket) return;
    this.clearIdle();
    this.idleTimer = setTimeout(() => this.close(), idle);
    this.idleTimer.unref();
  }

  private clearIdle(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }
}
