/**
 * smtp-server, adapted to Postfix's smtpd: a connection class that is ready
 * at once (smtp-server waits 100 ms before its greeting to catch early
 * talkers; in Postfix that is postscreen's job, not smtpd's), a command
 * parser with Postfix's line handling (line_length_limit truncation, bare
 * <LF> policy, pipelining detection, RFC 3030 BDAT chunks read as raw
 * octets), and a server that takes sockets master accepted. Every command
 * goes to the connection's {@link CommandSink}.
 */
import type { Socket } from 'node:net';
import type { Writable } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';
import { SMTPStream } from 'smtp-server/lib/smtp-stream.js';
import { ContentDeadline } from './smtpd-deadline.js';

const LF = 0x0a;
const CR = 0x0d;
const DOT = 0x2e;
const LF_DOT = Buffer.from('\n.');

/** What the Postfix layer (smtpd-session.ts) implements for one connection. */
export interface CommandSink {
  /** The connection is set up: say hello (or refuse). */
  start(): Promise<void>;
  /** One command line (without its line end). `pending`: more input was already waiting. */
  command(line: Buffer, pending: boolean): Promise<void>;
  /** A line ended in a bare <LF> while smtpd_forbid_bare_newline rejects them. */
  bareNewline(): void;
  /** smtpd_timeout expired while waiting for the client, or a command line took longer than that to arrive. */
  timeout(): void;
  /** The client began with a TLS handshake on a plaintext port. */
  tlsHello(): void;
  /** STARTTLS finished (or, in wrapper mode, the TLS handshake). */
  secured(socket: TLSSocket): void;
  /** The socket is gone. */
  closed(): void;
}

/** The first bytes of a TLS handshake record (a ClientHello sent to a plaintext port). */
const TLS_HANDSHAKE = 0x16;
const TLS_MAJOR = 0x03;

/** SMTPStream with Postfix's command-line reading (smtp_get with SMTP_GET_FLAG_SKIP). */
export class PosternStream extends SMTPStream {
  /** line_length_limit: longer command lines are cut there, the rest skipped. */
  lineLimit = 2048;
  /** The limit for the next line only (smtpd_sasl_response_limit for a SASL response). */
  nextLineLimit: number | undefined;
  /** The line just handed on was longer than its limit (and was cut). */
  truncated = false;
  /** ms a command line may take to arrive once it has begun (0: no limit). */
  commandDeadline = 0;
  onDeadline: () => void = () => undefined;
  /** smtpd_per_request_deadline for DATA and BDAT content (undefined: per-read timeout only). */
  content: ContentDeadline | undefined;
  /** The client's first bytes are a TLS handshake. */
  onTlsHello: () => void = () => undefined;
  /** Reject lines that end in a bare <LF>. */
  rejectBareNewline = false;
  onBareNewline: () => void = () => undefined;
  /** Called instead of oncommand, with the pipelining flag. */
  onLine: (line: Buffer, pending: boolean, done: () => void) => void = (_l, _p, done) => done();
  private buf: Buffer = Buffer.alloc(0);
  private skipping = false;
  private prevByte = -1;
  private sawInput = false;
  private deadlineTimer: NodeJS.Timeout | undefined;
  /** The write callback held while a command handler runs (input waits behind it). */
  private held: ((err?: Error | null) => void) | undefined;
  /** A BDAT chunk being read: bytes still wanted, where they go (undefined: dropped). */
  private chunk: { left: number; out: Writable | undefined; resolve: () => void; reject: (e: Error) => void } | undefined;

  /** True while a BDAT chunk's octets are awaited. */
  get readingChunk(): boolean {
    return this.chunk !== undefined;
  }

  /**
   * Reads the `size` octets that follow the current BDAT command line, as
   * they are (no dot-unstuffing, no line handling), into `out`, or drops
   * them when `out` is undefined. Called by a command handler; command
   * reading resumes after the chunk once the handler is done.
   */
  readChunk(size: number, out?: Writable): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.chunk = { left: size, out, resolve, reject };
      this.content?.start();
      const next = this.held;
      this.held = undefined;
      if (next) this.drain(next);
    });
  }

  /** The client is gone: a chunk being read never completes. */
  abortChunk(): void {
    const c = this.chunk;
    this.chunk = undefined;
    this.content?.stop();
    c?.reject(new Error('client connection lost during BDAT'));
  }

  /** Feeds the pending chunk from the buffer; false when drain() must stop here. */
  private feedChunk(next: (err?: Error | null) => void): boolean {
    const c = this.chunk!;
    const n = Math.min(c.left, this.buf.length);
    if (n > 0) {
      const piece = this.buf.subarray(0, n);
      this.buf = this.buf.subarray(n);
      c.left -= n;
      if (c.out && !c.out.destroyed && !c.out.write(piece)) {
        const resume = () => {
          c.out!.off('drain', resume);
          c.out!.off('close', resume);
          this.drain(next);
        };
        c.out.once('drain', resume);
        c.out.once('close', resume);
        return false;
      }
    }
    if (c.left > 0) {
      next();
      return false;
    }
    this.chunk = undefined;
    this.content?.stop();
    this.held = next;
    c.resolve();
    return false;
  }

  override _write(chunk: Buffer, encoding: BufferEncoding | 'buffer', done: (err?: Error | null) => void): void {
    const content = this.content;
    content?.read(chunk.length);
    // once this input is used up the server waits for the client again
    const next = content ? (err?: Error | null) => (content.wait(), done(err)) : done;
    if (this.isClosed) return next();
    if (this._dataMode) {
      if (this.rejectBareNewline && this.hasBareLf(chunk)) return this.bare(next);
      return super._write(chunk, encoding, next);
    }
    if (chunk.length) this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    this.drain(next);
  }

  /**
   * smtp-server's data-mode reader (smtp-stream.js) with its byte-by-byte
   * scan replaced by indexOf: the same rules (the "\r\n.\r\n" end, escape
   * dots, a message whose first line is "." or ".."), but every byte of every
   * message no longer passes through JavaScript.
   */
  override _feedDataStream(input: Buffer, done: (err?: Error | null) => void): void {
    const dataStream = this._dataStream!;
    let chunk = input;
    if (this._lastBytes && this._lastBytes.length) {
      chunk = Buffer.concat([this._lastBytes, chunk], this._lastBytes.length + chunk.length);
      this._lastBytes = false;
    }
    let len = chunk.length;
    if (this._atDataStart && len >= 3 && chunk[0] === DOT && chunk[1] === CR && chunk[2] === LF) {
      this._endDataMode(false, chunk.subarray(3), done);
      return;
    }
    if (this._atDataStart && len >= 2 && chunk[0] === DOT && chunk[1] === DOT) {
      chunk = chunk.subarray(1);
      len--;
      this._atDataStart = false;
    }
    // a dot that starts a line (after position 1), with two more bytes after it
    for (let nl = chunk.indexOf(LF_DOT, 1); nl >= 0 && nl + 1 < len - 2; nl = chunk.indexOf(LF_DOT, nl + 1)) {
      const dot = nl + 1;
      if (chunk[dot - 2] === CR && chunk[dot + 1] === CR && chunk[dot + 2] === LF) {
        const content = chunk.subarray(0, dot);
        this._countDataBytes(content.length);
        this._endDataMode(content, chunk.subarray(dot + 3), done);
        return;
      }
      if (chunk[dot + 1] === DOT) {
        const content = chunk.subarray(0, dot);
        this._lastBytes = false;
        this._countDataBytes(content.length);
        if (dataStream.writable) dataStream.write(content);
        const rest = chunk.subarray(dot + 1);
        setImmediate(() => this._feedDataStream(rest, done));
        return;
      }
    }
    // keep the last four bytes: the end marker may straddle chunks
    this._lastBytes = chunk.length < 4 ? chunk : chunk.subarray(chunk.length - 4);
    if (this._lastBytes.length >= chunk.length) return done();
    const content = chunk.subarray(0, chunk.length - this._lastBytes.length);
    this._countDataBytes(content.length);
    if (!dataStream.writable) return done();
    if (dataStream.write(content) || dataStream.destroyed) return done();
    // a stream the application destroys never drains, it only closes
    const resume = () => {
      dataStream.off('drain', resume);
      dataStream.off('close', resume);
      done();
    };
    dataStream.once('drain', resume);
    dataStream.once('close', resume);
  }

  override startDataMode(maxBytes?: number | string | null): ReturnType<SMTPStream['startDataMode']> {
    this.content?.start();
    return super.startDataMode(maxBytes);
  }

  override _endDataMode(chunk: Buffer | false, remainder: Buffer, callback: (err?: Error | null) => void): void {
    this.content?.stop();
    super._endDataMode(chunk, remainder, callback);
  }

  private readChunkNow(): void {
    const next = this.held;
    this.held = undefined;
    if (next) this.drain(next);
  }

  private hasBareLf(chunk: Buffer): boolean {
    let prev = this.prevByte;
    for (let i = 0; i < chunk.length; i++) {
      if (chunk[i] === LF && prev !== CR) return true;
      prev = chunk[i]!;
    }
    this.prevByte = prev;
    return false;
  }

  private bare(next: () => void): void {
    this.isClosed = true;
    this.buf = Buffer.alloc(0);
    this.onBareNewline();
    next();
  }

  private drain(next: (err?: Error | null) => void): void {
    if (!this.sawInput && this.buf.length > 0) {
      this.sawInput = true;
      if (this.buf[0] === TLS_HANDSHAKE && (this.buf.length < 2 || this.buf[1] === TLS_MAJOR)) {
        this.isClosed = true;
        this.buf = Buffer.alloc(0);
        this.onTlsHello();
        return next();
      }
    }
    for (;;) {
      if (this.isClosed) {
        this.stopDeadline();
        return next();
      }
      if (this.chunk) {
        this.stopDeadline();
        this.feedChunk(next);
        return;
      }
      if (this._dataMode) {
        this.stopDeadline();
        const rest = this.buf;
        this.buf = Buffer.alloc(0);
        this.prevByte = CR;
        if (!rest.length) return next();
        return this._write(rest, 'buffer', next);
      }
      const limit = this.nextLineLimit ?? this.lineLimit;
      const nl = this.buf.indexOf(LF);
      if (nl < 0) {
        if (this.buf.length > limit) {
          // Keep the first `limit` bytes (a copy: not the whole chunk); skip the rest of this line.
          this.buf = Buffer.from(this.buf.subarray(0, limit));
          this.skipping = true;
        }
        if (this.buf.length > 0) this.startDeadline();
        return next();
      }
      this.stopDeadline();
      const cr = nl > 0 && this.buf[nl - 1] === CR;
      const bareLf = !cr && !this.skipping;
      let line = this.buf.subarray(0, cr ? nl - 1 : nl);
      this.buf = this.buf.subarray(nl + 1);
      this.truncated = this.skipping || line.length > limit;
      this.skipping = false;
      this.nextLineLimit = undefined;
      if (bareLf && this.rejectBareNewline) return this.bare(next);
      if (line.length > limit) line = line.subarray(0, limit);
      const pending = this.buf.length > 0;
      let sync = true;
      let called = false;
      this.onLine(Buffer.from(line), pending, () => {
        called = true;
        if (sync) return;
        const held = this.held;
        this.held = undefined;
        if (held) this.drain(held);
      });
      sync = false;
      if (!called) {
        // the handler runs on; it may read a BDAT chunk before it is done
        this.held = next;
        if (this.chunk) this.readChunkNow();
        return;
      }
    }
  }

  /** A command line has begun: it must be complete within commandDeadline. */
  private startDeadline(): void {
    if (this.deadlineTimer || this.commandDeadline <= 0) return;
    this.deadlineTimer = setTimeout(() => {
      this.deadlineTimer = undefined;
      if (!this.isClosed && !this._dataMode && !this.chunk) this.onDeadline();
    }, this.commandDeadline);
    this.deadlineTimer.unref();
  }

  stopDeadline(): void {
    clearTimeout(this.deadlineTimer);
    this.deadlineTimer = undefined;
  }
}

/** An SMTPConnection that greets at once and hands every command to its sink. */
export class PosternConnection extends SMTPConnection {
  sink!: CommandSink;
  /** Set by the server for wrapper-mode (smtps) connections. */
  wrapped = false;
  /** smtpd_forbid_bare_newline applies to this client (set by the sink at start). */
  rejectBareNewline = false;

  /** No early-talker wait: ready as soon as the socket listeners are set. */
  override init(): void {
    this._setListeners(() => this.connectionReady());
  }

  /** Settles once the greeting is out; commands that arrive earlier wait for it. */
  private started: Promise<void> = Promise.resolve();

  override connectionReady(next?: () => void): void {
    if (this.wrapped) {
      this.session.secure = this.secure = true;
      this.sink.secured(this._socket as TLSSocket);
    }
    this.started = this.sink.start();
    this.started.then(() => {
      this._ready = true;
      next?.();
    }, (err: Error) => {
      this.emit('error', err);
      this.close();
    });
  }

  override _createParser(): SMTPStream {
    const parser = new PosternStream({});
    const cfg = (this._server as PosternSMTPServer).streamConfig;
    parser.lineLimit = cfg.lineLimit;
    parser.commandDeadline = cfg.commandDeadline;
    parser.onDeadline = () => this.sink.timeout();
    if (cfg.contentDeadline > 0) parser.content = new ContentDeadline(cfg.contentDeadline, cfg.minDataRate, () => this.sink.timeout());
    parser.onTlsHello = () => this.sink.tlsHello();
    parser.rejectBareNewline = this.rejectBareNewline === true;
    parser.onBareNewline = () => this.sink.bareNewline();
    parser.onLine = (line, pending, done) => this.dispatch(line, pending, done);
    parser.oncommand = (command, callback) => this.dispatch(command, false, callback ?? (() => undefined));
    parser.on('error', () => this.close());
    return parser;
  }

  private dispatch(line: Buffer, pending: boolean, callback: () => void): void {
    const done = () => this._whenWritable(callback);
    if (this._upgrading || this._closing || this._closed) return done();
    if (this._nextHandler) {
      const handler = this._nextHandler;
      this._nextHandler = false;
      this._handlerPending = true;
      handler.call(this, line, () => {
        this._handlerPending = false;
        done();
      });
      return;
    }
    this._handlerPending = true;
    this.started.then(() => this.sink.command(line, pending)).then(
      () => {
        this._handlerPending = false;
        done();
      },
      (err: Error) => {
        this._handlerPending = false;
        this.emit('error', err);
        this.reply('421 4.3.0 Error: internal error');
        this.close();
        done();
      },
    );
  }

  /** Writes a reply (lines joined by CRLF) as is, unless a TLS handshake is running. */
  reply(text: string): void {
    const s = this._socket;
    if (this._upgrading || !s || s.destroyed || !s.writable) return;
    const lines = text.split('\r\n').map((l) => l.replace(/[\r\n]/g, ' '));
    s.write(`${lines.join('\r\n')}\r\n`);
  }

  override _onTimeout(): void {
    if (this._closing) {
      this._socket.destroy();
      return;
    }
    if (this.stream?.readingChunk) {
      this.sink.timeout();
      return;
    }
    if (this._handlerPending || (this._dataStream && this._parser && !this._parser._dataMode)) {
      this._armTimeout();
      return;
    }
    this.sink.timeout();
  }

  override _onClose(): void {
    const first = !this._closed;
    this.stream?.stopDeadline();
    this.stream?.content?.stop();
    super._onClose();
    if (first) this.sink.closed();
  }

  /** The parser, typed. */
  get stream(): PosternStream | undefined {
    return this._parser ? (this._parser as PosternStream) : undefined;
  }
}

export interface StreamConfig {
  readonly lineLimit: number;
  /** ms a command line may take to arrive (smtpd_timeout); 0: no limit. */
  readonly commandDeadline: number;
  /** ms a DATA or BDAT request's content may take (smtpd_per_request_deadline); 0: per-read timeout only. */
  readonly contentDeadline: number;
  /** smtpd_min_data_rate (bytes/second). */
  readonly minDataRate: number;
}

let connectionIds = 0;

/** An SMTPServer that does not listen: it serves sockets handed to {@link PosternSMTPServer.accept}. */
export class PosternSMTPServer extends SMTPServer {
  constructor(
    options: SMTPServerOptions,
    readonly streamConfig: StreamConfig,
    private readonly makeSink: (conn: PosternConnection) => CommandSink,
  ) {
    super(options);
  }

  override connect(socket: Socket | TLSSocket, socketOptions?: { id?: string; wrapped?: boolean } | null): void {
    // a session id of our own: smtp-server would draw 10 random bytes per connection
    const conn = new PosternConnection(this, socket, { ...socketOptions, id: socketOptions?.id ?? `${process.pid.toString(36)}.${(++connectionIds).toString(36)}` });
    conn.wrapped = !!socketOptions?.wrapped;
    conn.sink = this.makeSink(conn);
    this.connections.add(conn);
    conn.on('error', (err: Error) => this.emit('error', err));
    conn.init();
  }

  /** Serves an accepted socket; `wrapper`: TLS from the first byte (smtpd_tls_wrappermode). */
  accept(socket: Socket, wrapper: boolean): void {
    if (!wrapper) {
      this.connect(socket, {});
      return;
    }
    socket.on('error', () => undefined);
    this._upgrade(socket, (err, tlsSocket) => {
      if (err || !tlsSocket) {
        socket.destroy();
        this.emit('tlsError', err, socket);
        return;
      }
      this.connect(tlsSocket, { wrapped: true });
    });
  }
}
