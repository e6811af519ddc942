/**
 * The DATA phase's content pump: reads smtp-server's (dot-unstuffed) data
 * stream, counts bytes against message_size_limit as they arrive, turns
 * CRLF into LF for cleanup, and can drain the rest of a message nobody
 * wants any more without destroying the stream (smtp-server keeps parsing
 * until the final dot, so the client gets its reply in order).
 */

const CRLF = Buffer.from('\r\n');

export class SizeExceeded extends Error {
  constructor() {
    super('message size exceeds fixed limit');
  }
}

export class ClientLost extends Error {
  constructor() {
    super('client connection lost during DATA');
  }
}

const HIGH_WATER = 16;

export class DataPump {
  bytes = 0;
  tooBig = false;
  failed = false;
  ended = false;
  private readonly queue: Buffer[] = [];
  private wake: (() => void) | undefined;
  private discarding = false;
  private paused = false;
  private carryCr = false;
  private readonly done: Promise<void>;

  constructor(
    private readonly stream: NodeJS.ReadableStream,
    private readonly limit: number,
    private readonly onBytes: (n: number) => void,
  ) {
    this.done = new Promise<void>((resolve) => {
      stream.on('data', (chunk: Buffer) => this.onData(chunk));
      stream.once('end', () => {
        this.ended = true;
        this.notify();
        resolve();
      });
      stream.once('error', () => {
        this.failed = true;
        this.notify();
        resolve();
      });
      stream.once('close', () => {
        if (!this.ended) this.failed = true;
        this.notify();
        resolve();
      });
    });
  }

  private onData(chunk: Buffer): void {
    this.bytes += chunk.length;
    this.onBytes(this.bytes);
    if (this.limit > 0 && this.bytes > this.limit) this.tooBig = true;
    if (this.discarding) return;
    this.queue.push(chunk);
    if (this.queue.length >= HIGH_WATER && !this.paused) {
      this.paused = true;
      this.stream.pause();
    }
    this.notify();
  }

  private notify(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  /** The content with LF line ends; throws when the size limit is passed or the client goes away. */
  async *lines(): AsyncGenerator<Buffer> {
    try {
      for (;;) {
        if (this.tooBig) throw new SizeExceeded();
        const chunk = this.queue.shift();
        if (chunk) {
          if (this.paused && this.queue.length < HIGH_WATER / 2) {
            this.paused = false;
            this.stream.resume();
          }
          const out = this.toLf(chunk);
          if (out.length) yield out;
          continue;
        }
        if (this.failed) throw new ClientLost();
        if (this.ended) {
          if (this.carryCr) {
            this.carryCr = false;
            yield Buffer.from('\r');
          }
          return;
        }
        await new Promise<void>((resolve) => (this.wake = resolve));
      }
    } finally {
      if (!this.ended) this.discard();
    }
  }

  /** CRLF -> LF, keeping a CR that ends a chunk until the next one shows what follows. */
  private toLf(chunk: Buffer): Buffer {
    let data = chunk;
    if (this.carryCr) data = Buffer.concat([Buffer.from('\r'), data]);
    this.carryCr = data.length > 0 && data[data.length - 1] === 0x0d;
    if (this.carryCr) data = data.subarray(0, data.length - 1);
    // copy the runs between CRLFs (native indexOf and copy: every byte of every message passes here)
    let crlf = data.indexOf(CRLF);
    if (crlf < 0) return data;
    const out = Buffer.allocUnsafe(data.length);
    let from = 0;
    let n = 0;
    while (crlf >= 0) {
      n += data.copy(out, n, from, crlf);
      from = crlf + 1;
      crlf = data.indexOf(CRLF, from);
    }
    n += data.copy(out, n, from);
    return out.subarray(0, n);
  }

  private discard(): void {
    this.discarding = true;
    this.queue.length = 0;
    if (this.paused) {
      this.paused = false;
      this.stream.resume();
    }
  }

  /** Reads (and drops) whatever is left, until the end of DATA or the client is gone. */
  async drain(): Promise<void> {
    this.discard();
    this.stream.resume();
    await this.done;
  }
}
