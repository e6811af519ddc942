/**
 * The server side of Postern's IPC: one socket carries many concurrent calls.
 * A service registers a handler per method; each handler gets the call's
 * arguments, its body stream, a way to send interim events and answer data,
 * and a signal that fires when the client goes away.
 */
import type { Socket } from 'node:net';
import { isPosternError } from '../errors.js';
import type { Logger } from '../contracts/logger.js';
import { ChunkQueue } from './queue.js';
import { DATA_CHUNK, encodeJson, FRAME, FrameDecoder, writeDataFrame, writeFrame, type Frame, type WireError } from './frame.js';

const BODY_HIGH_WATER = 1024 * 1024;

export interface IncomingCall {
  readonly method: string;
  /** Body bytes the client streams with the call (empty when it sends none). */
  readonly body: AsyncIterable<Buffer>;
  /** Sends an interim value (the client's onEvent); resolves when the socket can take more. */
  emit(event: unknown): Promise<void>;
  /** Streams answer bytes (the client's onData); resolves when the socket can take more. */
  send(data: Buffer): Promise<void>;
  /** Aborted when the client cancels or disconnects. */
  readonly signal: AbortSignal;
  /** The connection this call came on (for per-connection state). */
  readonly connection: IpcConnection;
}

export type Handler = (args: any, call: IncomingCall) => Promise<unknown> | unknown;
export type Handlers = Readonly<Record<string, Handler>>;

/** One client connection on the server side. */
export class IpcConnection {
  private readonly decoder: FrameDecoder;
  private readonly calls = new Map<number, { body: ChunkQueue; abort: AbortController }>();
  private paused = 0;
  private closed = false;
  /** Per-connection state a service may keep (closed with the connection). */
  readonly state = new Map<string, unknown>();
  private readonly closeHooks: (() => void)[] = [];

  constructor(
    private readonly socket: Socket,
    private readonly handlers: Handlers,
    private readonly name: string,
    private readonly log?: Logger,
  ) {
    this.decoder = new FrameDecoder(name);
    socket.on('data', (chunk: Buffer) => {
      try {
        this.decoder.push(chunk, (f) => this.onFrame(f));
      } catch (err) {
        this.log?.warn(`${name}: ${(err as Error).message}; closing connection`);
        socket.destroy();
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => this.onClose());
  }

  get activeCalls(): number {
    return this.calls.size;
  }

  onClosed(hook: () => void): void {
    if (this.closed) hook();
    else this.closeHooks.push(hook);
  }

  private onFrame(frame: Frame): void {
    switch (frame.kind) {
      case FRAME.CALL:
        this.startCall(frame.id, frame.payload);
        return;
      case FRAME.DATA:
        this.calls.get(frame.id)?.body.push(Buffer.from(frame.payload));
        return;
      case FRAME.END:
        this.calls.get(frame.id)?.body.end();
        return;
      case FRAME.CANCEL: {
        const call = this.calls.get(frame.id);
        call?.abort.abort(new Error('cancelled by client'));
        call?.body.fail(new Error('cancelled by client'));
        return;
      }
      default:
        this.log?.warn(`${this.name}: unexpected frame kind ${frame.kind} from client`);
    }
  }

  private pressure = (paused: boolean): void => {
    this.paused += paused ? 1 : -1;
    if (this.paused > 0) this.socket.pause();
    else this.socket.resume();
  };

  private startCall(id: number, payload: Buffer): void {
    let request: { m?: unknown; a?: unknown; b?: unknown };
    try {
      request = JSON.parse(payload.toString('utf8'));
    } catch {
      void this.write(encodeJson(FRAME.ERROR, id, { code: 'POSTERN_ERR_IPC_PROTOCOL', message: 'malformed call' }));
      return;
    }
    const method = String(request.m);
    const handler = Object.hasOwn(this.handlers, method) ? this.handlers[method] : undefined;
    const body = new ChunkQueue(BODY_HIGH_WATER, this.pressure);
    if (!request.b) body.end();
    const abort = new AbortController();
    this.calls.set(id, { body, abort });
    const call: IncomingCall = {
      method,
      body,
      signal: abort.signal,
      connection: this,
      emit: (event) => this.write(encodeJson(FRAME.EVENT, id, event)),
      send: (data) => this.sendData(id, data),
    };
    const finish = (frame: Buffer) => {
      this.calls.delete(id);
      body.end();
      void this.write(frame);
    };
    if (!handler) {
      finish(encodeJson(FRAME.ERROR, id, { code: 'POSTERN_ERR_IPC_PROTOCOL', message: `unknown method "${method}"` }));
      return;
    }
    Promise.resolve()
      .then(() => handler(request.a, call))
      .then(
        (result) => finish(encodeJson(FRAME.REPLY, id, result)),
        (err: unknown) => {
          const wire: WireError = isPosternError(err)
            ? { code: err.code, message: err.message, hint: err.hint }
            : { message: err instanceof Error ? err.message : String(err) };
          if (!isPosternError(err) && !abort.signal.aborted) this.log?.warn(`${this.name}: ${method}: ${wire.message}`);
          finish(encodeJson(FRAME.ERROR, id, wire));
        },
      );
  }

  private async sendData(id: number, data: Buffer): Promise<void> {
    for (let off = 0; off < data.length; off += DATA_CHUNK) {
      if (this.closed) return;
      if (!writeDataFrame(this.socket, id, data.subarray(off, off + DATA_CHUNK))) await this.drained();
    }
  }

  private write(frame: Buffer): Promise<void> {
    if (this.closed) return Promise.resolve();
    if (writeFrame(this.socket, frame)) return Promise.resolve();
    return this.drained();
  }

  private drained(): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        this.socket.off('drain', done);
        this.socket.off('close', done);
        resolve();
      };
      this.socket.on('drain', done);
      this.socket.on('close', done);
    });
  }

  private onClose(): void {
    this.closed = true;
    for (const { body, abort } of this.calls.values()) {
      abort.abort(new Error('client disconnected'));
      body.fail(new Error('client disconnected'));
    }
    this.calls.clear();
    for (const hook of this.closeHooks.splice(0)) hook();
  }
}

/** Serves `handlers` on every connection handed to it. */
export class IpcServer {
  private readonly connections = new Set<IpcConnection>();

  constructor(
    private readonly name: string,
    private readonly handlers: Handlers,
    private readonly log?: Logger,
  ) {}

  accept(socket: Socket): IpcConnection {
    const conn = new IpcConnection(socket, this.handlers, this.name, this.log);
    this.connections.add(conn);
    conn.onClosed(() => this.connections.delete(conn));
    return conn;
  }

  get size(): number {
    return this.connections.size;
  }

  /** Calls in progress across all connections. */
  get activeCalls(): number {
    let n = 0;
    for (const c of this.connections) n += c.activeCalls;
    return n;
  }
}
