/**
 * Frames of Postern's inter-service protocol over unix stream sockets.
 *
 *   [u32 length][u8 kind][u32 call id][payload: length - 5 bytes]
 *
 * CALL carries {m: method, a: args} as JSON; DATA carries body bytes of a call
 * (client to server) or of its answer (server to client); END closes a body;
 * EVENT is an interim JSON value; REPLY the final JSON value; ERROR a coded
 * error; CANCEL asks the server to abandon a call.
 */
import { posternError } from '../errors.js';

export const FRAME = { CALL: 1, DATA: 2, END: 3, EVENT: 4, REPLY: 5, ERROR: 6, CANCEL: 7 } as const;
export type FrameKind = (typeof FRAME)[keyof typeof FRAME];

export const FRAME_HEADER = 9;
/** Largest frame accepted: body data travels in many frames, so this bounds JSON values. */
export const FRAME_MAX = 64 * 1024 * 1024;
/** DATA frames are cut at this size so calls multiplex fairly. */
export const DATA_CHUNK = 64 * 1024;

export interface Frame {
  readonly kind: FrameKind;
  readonly id: number;
  readonly payload: Buffer;
}

export function encodeFrame(kind: FrameKind, id: number, payload?: Buffer | string): Buffer {
  const body = payload === undefined ? undefined : typeof payload === 'string' ? Buffer.from(payload) : payload;
  const len = 5 + (body?.length ?? 0);
  const head = Buffer.allocUnsafe(FRAME_HEADER);
  head.writeUInt32BE(len, 0);
  head.writeUInt8(kind, 4);
  head.writeUInt32BE(id, 5);
  return body ? Buffer.concat([head, body], FRAME_HEADER + body.length) : head;
}

export function encodeJson(kind: FrameKind, id: number, value: unknown): Buffer {
  return encodeFrame(kind, id, JSON.stringify(value ?? null));
}

/**
 * Splits a byte stream into frames. A frame that arrives whole is handed on
 * as a view of the chunk it came in; only a frame cut across reads is
 * copied, once, when its last byte arrives.
 */
export class FrameDecoder {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** Length of the frame being collected (its 4-byte prefix included), once known. */
  private want = 0;

  constructor(private readonly peer: string) {}

  push(chunk: Buffer, onFrame: (frame: Frame) => void): void {
    let off = 0;
    if (this.pendingBytes > 0) {
      if (this.want === 0) {
        // not even the length yet: join the few bytes there are with the new chunk's start
        const head = Buffer.concat([...this.pending, chunk.subarray(0, 4)]);
        if (head.length < 4) {
          this.pending = [head];
          this.pendingBytes = head.length;
          return;
        }
        this.want = 4 + this.length(head, 0);
      }
      const need = this.want - this.pendingBytes;
      if (chunk.length < need) {
        this.pending.push(chunk);
        this.pendingBytes += chunk.length;
        return;
      }
      this.pending.push(chunk.subarray(0, need));
      const frame = Buffer.concat(this.pending, this.want);
      this.pending = [];
      this.pendingBytes = 0;
      this.want = 0;
      this.emit(frame, 0, onFrame);
      off = need;
    }
    while (chunk.length - off >= 4) {
      const len = this.length(chunk, off);
      if (chunk.length - off < 4 + len) {
        this.want = 4 + len;
        break;
      }
      this.emit(chunk, off, onFrame);
      off += 4 + len;
    }
    if (off < chunk.length) {
      this.pending.push(chunk.subarray(off));
      this.pendingBytes = chunk.length - off;
    }
  }

  private length(buf: Buffer, off: number): number {
    const len = buf.readUInt32BE(off);
    if (len < 5 || len > FRAME_MAX) throw posternError('POSTERN_ERR_IPC_FRAME_SIZE', this.peer, len, FRAME_MAX);
    return len;
  }

  private emit(buf: Buffer, off: number, onFrame: (frame: Frame) => void): void {
    const len = buf.readUInt32BE(off);
    const kind = buf.readUInt8(off + 4) as FrameKind;
    const id = buf.readUInt32BE(off + 5);
    onFrame({ kind, id, payload: buf.subarray(off + FRAME_HEADER, off + 4 + len) });
  }
}

/** A coded error as it crosses the wire. */
export interface WireError {
  readonly code?: string;
  readonly message: string;
  readonly hint?: string;
}

/**
 * Writes a DATA frame without copying its payload: header and payload go out
 * as two buffers of one writev(2) (see writeFrame).
 */
export function writeDataFrame(socket: import('node:net').Socket, id: number, payload: Buffer): boolean {
  const head = Buffer.allocUnsafe(FRAME_HEADER);
  head.writeUInt32BE(5 + payload.length, 0);
  head.writeUInt8(FRAME.DATA, 4);
  head.writeUInt32BE(id, 5);
  writeFrame(socket, head);
  return writeFrame(socket, payload);
}

/**
 * Writes a frame, coalescing every frame written in the same tick into one
 * write(2): a call is CALL + DATA + END, a reply EVENT + REPLY.
 */
export function writeFrame(socket: import('node:net').Socket, frame: Buffer): boolean {
  if (socket.writableCorked === 0) {
    socket.cork();
    process.nextTick(() => socket.uncork());
  }
  return socket.write(frame);
}
