/**
 * Netstrings (cr.yp.to/proto/netstrings.txt) read from a socket, as
 * Postfix's netstring(3): "LEN:" + LEN bytes + ",". Errors carry Postfix's
 * kinds: EOF ("lost connection"), TIME ("read/write timeout"), FORMAT
 * ("netstring format error") and SIZE ("netstring length exceeds storage
 * limit").
 */
import type { Socket } from 'node:net';

export type NetstringErrorKind = 'eof' | 'time' | 'format' | 'size';

export const NETSTRING_REASON: Readonly<Record<NetstringErrorKind, string>> = {
  eof: 'lost connection',
  time: 'read/write timeout',
  format: 'netstring format error',
  size: 'netstring length exceeds storage limit',
};

export class NetstringError extends Error {
  constructor(readonly kind: NetstringErrorKind) {
    super(NETSTRING_REASON[kind]);
  }
}

/** The netstring encoding of `data`. */
export function netstring(data: string | Buffer): Buffer {
  const body = Buffer.isBuffer(data) ? data : Buffer.from(data, 'utf8');
  return Buffer.concat([Buffer.from(`${body.length}:`), body, Buffer.from(',')]);
}

/** Stop reading from the socket while this much is buffered. */
const HIGH_WATER = 256 * 1024;
/** A length has at most this many digits (Postfix: ssize_t). */
const MAX_DIGITS = 15;

/** A pull reader over a socket: bytes are read as the protocol asks for them. */
export class NetstringReader {
  #buf: Buffer = Buffer.alloc(0);
  #failure: NetstringError | undefined;
  #wake: (() => void) | undefined;
  /** Bytes handed out so far (for the QMQP packet length). */
  consumed = 0;

  constructor(private readonly socket: Socket) {
    socket.on('data', (d: Buffer) => {
      this.#buf = this.#buf.length === 0 ? d : Buffer.concat([this.#buf, d]);
      if (this.#buf.length > HIGH_WATER) socket.pause();
      this.#notify();
    });
    const eof = () => this.fail('eof');
    socket.on('end', eof);
    socket.on('close', eof);
    socket.on('error', eof);
  }

  /** Makes every pending and later read fail with `kind` (first failure wins). */
  fail(kind: NetstringErrorKind): void {
    this.#failure ??= new NetstringError(kind);
    this.#notify();
  }

  #notify(): void {
    const w = this.#wake;
    this.#wake = undefined;
    w?.();
  }

  /** Waits until at least one byte is buffered. */
  async #more(): Promise<void> {
    while (this.#buf.length === 0) {
      if (this.#failure) throw this.#failure;
      this.socket.resume();
      await new Promise<void>((r) => (this.#wake = r));
    }
  }

  #take(n: number): Buffer {
    const out = this.#buf.subarray(0, n);
    this.#buf = this.#buf.subarray(n);
    this.consumed += out.length;
    if (this.#buf.length < HIGH_WATER) this.socket.resume();
    return out;
  }

  /** "LEN:": the length; FORMAT on anything else, SIZE past `limit`. */
  async length(limit: number): Promise<number> {
    let digits = '';
    for (;;) {
      await this.#more();
      const c = this.#take(1)[0]!;
      if (c >= 0x30 && c <= 0x39 && digits.length < MAX_DIGITS) digits += String.fromCharCode(c);
      else if (c === 0x3a && digits !== '') break;
      else throw new NetstringError('format');
    }
    const n = Number(digits);
    if (n > limit) throw new NetstringError('size');
    return n;
  }

  /** Exactly `n` bytes, as they arrive. */
  async *chunks(n: number): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      await this.#more();
      const part = this.#take(Math.min(left, this.#buf.length));
      left -= part.length;
      yield part;
    }
  }

  /** Exactly `n` bytes in one buffer. */
  async bytes(n: number): Promise<Buffer> {
    const parts: Buffer[] = [];
    for await (const p of this.chunks(n)) parts.push(Buffer.from(p));
    return Buffer.concat(parts, n);
  }

  /** Reads and drops `n` bytes. */
  async skip(n: number): Promise<void> {
    for await (const _ of this.chunks(n)) void _;
  }

  /** The "," that ends a netstring. */
  async terminator(): Promise<void> {
    await this.#more();
    if (this.#take(1)[0] !== 0x2c) throw new NetstringError('format');
  }

  /** One whole netstring of at most `limit` bytes. */
  async netstring(limit: number): Promise<Buffer> {
    const data = await this.bytes(await this.length(limit));
    await this.terminator();
    return data;
  }
}
