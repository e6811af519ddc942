/**
 * Triggers (Postfix's mail_trigger / trigger_server): single request bytes such
 * as "W" (wakeup) or "I" (scan incoming) written to a service's socket.
 */
import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { posternError } from '../errors.js';

/** Writes `bytes` to the trigger service at `path` and closes (postkick). */
export function sendTrigger(service: string, path: string, bytes: string, timeoutMs = 5000): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    const timer = setTimeout(() => socket.destroy(new Error('timeout')), timeoutMs);
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(posternError('POSTERN_ERR_IPC_CONNECT', service, path, err.code ?? err.message));
    });
    socket.once('connect', () => socket.end(bytes));
    socket.once('close', (hadError) => {
      clearTimeout(timer);
      if (!hadError) resolve();
    });
  });
}

/** The least time between two writes of a kept-open trigger connection (ms). */
export const TRIGGER_PACE = 5;

/**
 * A kept-open trigger connection, for services that notify often (cleanup
 * telling qmgr about new mail). Bytes asked for within TRIGGER_PACE of the
 * last write are coalesced into the next one (under load one write, and one
 * queue scan, per pace instead of per message); if the service is down the
 * trigger is dropped, as Postfix does, and the service's own wakeup timer
 * picks the work up.
 */
export class TriggerClient {
  private socket: Socket | undefined;
  private queued = new Set<string>();
  private flushing = false;
  private lastWrite = 0;

  constructor(
    readonly service: string,
    readonly path: string,
  ) {}

  trigger(bytes: string): void {
    for (const b of bytes) this.queued.add(b);
    if (!this.flushing) {
      this.flushing = true;
      const wait = this.lastWrite + TRIGGER_PACE - performance.now();
      if (wait > 0) setTimeout(() => this.flush(), wait);
      else setImmediate(() => this.flush());
    }
  }

  close(): void {
    this.socket?.destroy();
    this.socket = undefined;
  }

  private flush(): void {
    this.flushing = false;
    if (this.queued.size === 0) return;
    const bytes = [...this.queued].join('');
    this.queued.clear();
    const socket = this.socket && !this.socket.destroyed ? this.socket : this.open();
    this.lastWrite = performance.now();
    socket.write(bytes);
  }

  private open(): Socket {
    const socket = connect(this.path);
    socket.on('error', () => undefined);
    socket.on('data', () => undefined);
    socket.on('close', () => {
      if (this.socket === socket) this.socket = undefined;
    });
    socket.unref();
    this.socket = socket;
    return socket;
  }
}

/** Reads trigger bytes from each connection and hands them to `handler`. */
export function acceptTriggers(socket: Socket, handler: (data: Buffer) => void): void {
  socket.on('data', (chunk: Buffer) => handler(chunk));
  socket.on('error', () => undefined);
}
