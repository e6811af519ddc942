/**
 * Triggers (Postfix's mail_trigger / trigger_server): single request bytes such
 * as "W" (wakeup) or "I" (scan incoming) written to a service's socket.
 */
import { connect, type Socket } from 'node:net';
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

/**
 * A kept-open trigger connection, for services that notify often (cleanup
 * telling qmgr about new mail). Bytes written while a write is pending are
 * coalesced; if the service is down the trigger is dropped, as Postfix does,
 * and the service's own wakeup timer picks the work up.
 */
export class TriggerClient {
  private socket: Socket | undefined;
  private queued = new Set<string>();
  private flushing = false;

  constructor(
    readonly service: string,
    readonly path: string,
  ) {}

  trigger(bytes: string): void {
    for (const b of bytes) this.queued.add(b);
    if (!this.flushing) {
      this.flushing = true;
      setImmediate(() => this.flush());
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
