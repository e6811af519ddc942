/**
 * One SMTP or LMTP client session (Postfix's SMTP_SESSION with smtp_proto.c
 * and smtp_chat.c), speaking the protocol on the socket itself:
 *
 *   - the greeting, EHLO/LHLO (HELO when EHLO is refused), STARTTLS with a
 *     second EHLO, AUTH PLAIN, LOGIN and CRAM-MD5;
 *   - one mail transaction at a time: MAIL FROM with SIZE, BODY=8BITMIME,
 *     SMTPUTF8, RET and ENVID; RCPT TO with NOTIFY and ORCPT per recipient;
 *     with PIPELINING (RFC 2920) MAIL, RCPT and DATA go out in one write, as
 *     Postfix sends them; the content is written CRLF-terminated and
 *     dot-stuffed in one write with the final dot;
 *   - every reply is read in order and kept with the command it answers, per
 *     recipient (LMTP: one reply per accepted recipient after DATA), so a
 *     failure names the state Postfix names ("while sending RCPT TO");
 *   - per-command time limits (smtp_helo_timeout, smtp_mail_timeout,
 *     smtp_rcpt_timeout, smtp_data_init_timeout, smtp_data_xfer_timeout,
 *     smtp_data_done_timeout, smtp_rset_timeout, smtp_quit_timeout), reply
 *     lines cut at line_length_limit and a bound on a whole reply.
 *
 * The socket is opened here too (smtp_connect_timeout, smtp_bind_address,
 * UNIX-domain sockets).
 */
import { createHmac } from 'node:crypto';
import { createConnection, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { parseReply, stateText as stateTextOf, type SessionState, type SmtpReply } from './reply.js';

export interface SessionTimeouts {
  /** Seconds; 0 = no limit. */
  readonly connect: number;
  readonly helo: number;
  readonly starttls: number;
  readonly mail: number;
  readonly rcpt: number;
  readonly dataInit: number;
  readonly dataXfer: number;
  readonly dataDone: number;
  readonly rset: number;
  readonly quit: number;
}

export interface SessionEndpoint {
  /** The server's name (MX host, next-hop host, or $myhostname for a UNIX socket). */
  readonly host: string;
  /** IP address (inet) ... */
  readonly address?: string;
  readonly port?: number;
  /** ... or a UNIX-domain socket path. */
  readonly path?: string;
}

export interface SessionOptions {
  readonly lmtp: boolean;
  readonly endpoint: SessionEndpoint;
  /** smtp_helo_name / lmtp_lhlo_name. */
  readonly heloName: string;
  readonly bindAddress?: string;
  readonly timeouts: SessionTimeouts;
  /** STARTTLS: undefined = never; with `required`, fail when it cannot be done. */
  readonly tls?: { readonly options: ConnectionOptions; readonly required: boolean };
  /** Longest reply line kept (line_length_limit). */
  readonly replyLimit: number;
  /** Largest reply accepted at all (bytes), default 1 MiB. */
  readonly maxReplySize?: number;
}

/** Why a session or a transaction failed below the level of a reply. */
export type SessionErrorKind = 'connect' | 'timeout' | 'lost' | 'reply' | 'tls' | 'tls-required' | 'protocol';

export class SessionError extends Error {
  constructor(
    readonly kind: SessionErrorKind,
    readonly state: SessionState,
    message: string,
    readonly reply?: SmtpReply,
  ) {
    super(message);
  }
}

export interface SessionRecipient {
  /** The address sent in RCPT TO. */
  readonly address: string;
  readonly notify?: readonly string[];
  readonly orcpt?: string;
}

export interface SessionEnvelope {
  readonly sender: string;
  readonly recipients: readonly SessionRecipient[];
  readonly size?: number;
  /** Declare BODY=8BITMIME when the server offers it. */
  readonly body8bit?: boolean;
  /** Send SMTPUTF8 when the server offers it. */
  readonly smtputf8?: boolean;
  readonly ret?: string;
  readonly envid?: string;
  /** sendmail -bv or an address probe (DEL_REQ_TRACE_ONLY): MAIL and RCPT only, no DATA; the RCPT replies decide. */
  readonly traceOnly?: boolean;
  /** XFORWARD attributes (NAME, ADDR, ...), sent before MAIL when the server offers XFORWARD. */
  readonly xforward?: Readonly<Record<string, string | undefined>>;
}

/** The reply each recipient got: to RCPT TO (if refused) or to the end of DATA (LMTP: its own). */
export interface TransactionOutcome {
  /** Per recipient (same order as the envelope): the deciding reply and what it answered. */
  readonly replies: readonly { readonly reply: SmtpReply; readonly state: SessionState }[];
}

/** RFC 3461 xtext. */
export function xtext(text: string): string {
  let out = '';
  for (const ch of Buffer.from(text, 'utf8')) {
    out += ch < 33 || ch > 126 || ch === 0x2b || ch === 0x3d ? `+${ch.toString(16).toUpperCase().padStart(2, '0')}` : String.fromCharCode(ch);
  }
  return out;
}

/** Lines of a reply received so far; the reply is complete at a line without "-" after the code. */
interface Waiter {
  readonly state: SessionState;
  resolve(reply: SmtpReply): void;
  reject(err: SessionError): void;
}

const DOT_CRLF = Buffer.from('.\r\n');

/**
 * The content as it goes on the wire after DATA: every line ends in CRLF,
 * a line that starts with "." gets another one (RFC 5321 4.5.2), and the
 * final "." line follows. One pass counts what is added, a second copies the
 * runs between the additions into a buffer of the exact size.
 */
export function smtpData(body: Buffer): Buffer {
  let extra = 0;
  for (let at = 0; at < body.length; ) {
    if (body[at] === 0x2e) extra++;
    const nl = body.indexOf(10, at);
    if (nl < 0) {
      extra += 2;
      break;
    }
    if (nl === 0 || body[nl - 1] !== 13) extra++;
    at = nl + 1;
  }
  const out = Buffer.allocUnsafe(body.length + extra + 3);
  let n = 0;
  let from = 0;
  for (let at = 0; at < body.length; ) {
    if (body[at] === 0x2e) {
      n += body.copy(out, n, from, at);
      out[n++] = 0x2e;
      from = at;
    }
    const nl = body.indexOf(10, at);
    if (nl < 0) {
      n += body.copy(out, n, from);
      out[n++] = 13;
      out[n++] = 10;
      from = body.length;
      break;
    }
    if (nl === 0 || body[nl - 1] !== 13) {
      n += body.copy(out, n, from, nl);
      out[n++] = 13;
      from = nl;
    }
    at = nl + 1;
  }
  n += body.copy(out, n, from);
  out[n++] = 0x2e;
  out[n++] = 13;
  out[n++] = 10;
  return out;
}

/** What another process needs to carry on a plaintext session it is handed (with the socket). */
export interface SessionHandover {
  readonly endpoint: SessionEndpoint;
  readonly extensions: readonly string[];
  readonly auth: readonly string[];
  readonly sizeLimit: number;
  readonly uses: number;
  readonly createdAt: number;
}

let sessionIds = 0;

export class ClientSession {
  readonly id = ++sessionIds;
  /** "host[addr]" (Postfix namaddr). */
  readonly peer: string;
  /** "host[addr]:port" (relay= in the log). */
  readonly relay: string;
  createdAt = Date.now();
  /** Transactions completed on this session (conn_use). */
  uses = 0;
  lastUsed = Date.now();
  private socket: Socket | TLSSocket;
  private secureSocket: TLSSocket | undefined;
  private ext: string[] = [];
  private auth: string[] = [];
  private maxSize = 0;
  /** Replies awaited, oldest first; replies that arrive with none waiting are kept for the next. */
  private readonly waiters: Waiter[] = [];
  private readonly early: SmtpReply[] = [];
  private partial: Buffer[] = [];
  private partialSize = 0;
  private replyLines: string[] = [];
  private replySize = 0;
  private lastState: SessionState = 'greeting';
  /** A transaction was started and not ended by the end-of-data reply: RSET before the next. */
  private inTransaction = false;
  private closed = false;
  private failure: SessionError | undefined;
  private readonly onData = (chunk: Buffer) => this.receive(chunk);
  private readonly onTimeout = () => this.fail('timeout');
  private readonly onClose = () => this.fail('lost');
  private readonly onError = () => undefined;

  private constructor(private readonly opts: SessionOptions, socket: Socket) {
    const ep = opts.endpoint;
    this.peer = `${ep.host}[${ep.path ?? ep.address}]`;
    this.relay = ep.path ? this.peer : `${this.peer}:${ep.port}`;
    this.socket = socket;
    this.attach(socket);
  }

  /**
   * A session another process handed over (scache): the socket is past EHLO
   * and between transactions; its state comes with it.
   */
  static adopt(opts: SessionOptions, state: SessionHandover, socket: Socket): ClientSession {
    const session = new ClientSession({ ...opts, endpoint: state.endpoint }, socket);
    session.ext = [...state.extensions];
    session.auth = [...state.auth];
    session.maxSize = state.sizeLimit;
    session.uses = state.uses;
    session.createdAt = state.createdAt;
    session.lastState = 'rset';
    socket.resume();
    return session;
  }

  /**
   * Gives the session up for another process: its state and the socket,
   * paused, with nothing of this session's left on it. Only a plaintext
   * session between transactions can move (TLS state stays in the process
   * that made it); otherwise undefined.
   */
  handOver(): { state: SessionHandover; socket: Socket } | undefined {
    if (this.secureSocket || !this.usable || this.inTransaction || this.waiters.length || this.early.length || this.partial.length) return undefined;
    const socket = this.socket as Socket;
    this.detach(socket);
    socket.pause();
    socket.setTimeout(0);
    this.closed = true;
    const state: SessionHandover = {
      endpoint: this.opts.endpoint,
      extensions: this.ext,
      auth: this.auth,
      sizeLimit: this.maxSize,
      uses: this.uses,
      createdAt: this.createdAt,
    };
    return { state, socket };
  }

  /** Opens the socket, waits for the greeting, EHLO/LHLO and STARTTLS as the options say. */
  static async open(opts: SessionOptions, signal?: AbortSignal): Promise<ClientSession> {
    const socket = await connectSocket(opts, signal);
    const session = new ClientSession(opts, socket);
    const onAbort = () => session.fail('lost', ' (delivery cancelled)');
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      await session.handshake();
    } catch (err) {
      session.close();
      throw err;
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
    return session;
  }

  private attach(socket: Socket): void {
    socket.setNoDelay(true);
    socket.on('data', this.onData);
    socket.on('timeout', this.onTimeout);
    socket.on('close', this.onClose);
    socket.on('error', this.onError);
  }

  private detach(socket: Socket): void {
    socket.off('data', this.onData);
    socket.off('timeout', this.onTimeout);
    socket.off('close', this.onClose);
  }

  private async handshake(): Promise<void> {
    const greeting = await this.expect('greeting');
    if (greeting.code < 200 || greeting.code >= 300) throw new SessionError('reply', 'greeting', greeting.text, greeting);
    await this.hello();
    const tls = this.opts.tls;
    if (!tls) return;
    if (!this.ext.includes('STARTTLS')) {
      if (tls.required) throw new SessionError('tls-required', 'starttls', `TLS is required, but was not offered by host ${this.peer}`);
      return;
    }
    const reply = await this.command('STARTTLS', 'starttls');
    if (reply.code !== 220) {
      if (!tls.required) return;
      throw new SessionError('reply', 'starttls', `host ${this.peer} said: ${reply.text} (in reply to STARTTLS command)`, reply);
    }
    await this.startTls(tls.options);
    await this.hello();
  }

  /** EHLO (LHLO), or HELO when the server refuses EHLO; records the extensions. */
  private async hello(): Promise<void> {
    const { lmtp, heloName } = this.opts;
    const reply = await this.command(`${lmtp ? 'LHLO' : 'EHLO'} ${heloName}`, lmtp ? 'lhlo' : 'ehlo');
    if (reply.code >= 200 && reply.code < 300) {
      this.extensions_(reply.lines);
      return;
    }
    if (lmtp || reply.code === 421) throw new SessionError('reply', lmtp ? 'lhlo' : 'ehlo', reply.text, reply);
    const helo = await this.command(`HELO ${heloName}`, 'helo');
    if (helo.code < 200 || helo.code >= 300) throw new SessionError('reply', 'helo', helo.text, helo);
    this.extensions_([]);
  }

  private extensions_(lines: readonly string[]): void {
    this.ext = [];
    this.auth = [];
    this.maxSize = 0;
    for (const line of lines.slice(1)) {
      const words = line.slice(4).trim().split(/[\s=]+/);
      const keyword = (words[0] ?? '').toUpperCase();
      if (!keyword) continue;
      this.ext.push(keyword);
      if (keyword === 'SIZE') this.maxSize = Number(words[1]) || 0;
      if (keyword === 'AUTH') this.auth.push(...words.slice(1).map((w) => w.toUpperCase()));
    }
  }

  private startTls(options: ConnectionOptions): Promise<void> {
    const plain = this.socket;
    this.detach(plain);
    return new Promise<void>((resolve, reject) => {
      const secure = tlsConnect({ ...options, socket: plain });
      const failed = (err: NodeJS.ErrnoException) => {
        secure.destroy();
        plain.destroy();
        this.closed = true;
        const text = `${err.code ?? ''} ${err.message}`;
        const certificate = /CERT|SIGNATURE|ISSUER|ALTNAME|certificate|self.signed|verify|name mismatch/i.test(text);
        reject(new SessionError('tls', 'starttls', certificate ? 'Server certificate not verified' : 'Cannot start TLS: handshake failure'));
      };
      const timedOut = () => failed(Object.assign(new Error('handshake timed out'), { code: 'ETIMEDOUT' }));
      secure.once('error', failed);
      secure.setTimeout(this.seconds('starttls') * 1000);
      secure.once('timeout', timedOut);
      secure.once('secureConnect', () => {
        secure.off('error', failed);
        secure.off('timeout', timedOut);
        this.socket = secure;
        this.secureSocket = secure;
        this.attach(secure);
        resolve();
      });
    });
  }

  private seconds(state: SessionState): number {
    const t = this.opts.timeouts;
    switch (state) {
      case 'starttls':
        return t.starttls;
      case 'mail':
        return t.mail;
      case 'rcpt':
        return t.rcpt;
      case 'data':
        return t.dataInit;
      case 'body':
        return t.dataXfer;
      case 'dot':
        return t.dataDone;
      case 'rset':
        return t.rset;
      case 'quit':
        return t.quit;
      default:
        return t.helo;
    }
  }

  /** The time limit of the oldest reply awaited (or of `state` while sending). */
  private arm(state: SessionState): void {
    this.lastState = state;
    this.socket.setTimeout(this.seconds(state) * 1000);
  }

  private receive(chunk: Buffer): void {
    let from = 0;
    for (;;) {
      const nl = chunk.indexOf(10, from);
      if (nl < 0) {
        if (from === chunk.length) return;
        const rest = chunk.subarray(from);
        this.partial.push(rest);
        this.partialSize += rest.length;
        if (this.replySize + this.partialSize > (this.opts.maxReplySize ?? 1024 * 1024)) this.fail('protocol');
        return;
      }
      let line = chunk.subarray(from, nl);
      if (this.partial.length) {
        line = Buffer.concat([...this.partial, line]);
        this.partial = [];
        this.partialSize = 0;
      }
      from = nl + 1;
      this.line(line.toString('utf8').replace(/\r$/, ''));
      if (this.closed && this.failure) return;
    }
  }

  private line(text: string): void {
    this.replySize += text.length;
    if (this.replySize > (this.opts.maxReplySize ?? 1024 * 1024)) {
      this.fail('protocol');
      return;
    }
    const limit = this.opts.replyLimit;
    this.replyLines.push(text.length > limit ? text.slice(0, limit) : text);
    if (/^\d{3}-/.test(text)) return;
    const lines = this.replyLines;
    this.replyLines = [];
    this.replySize = 0;
    const reply = Object.assign(parseReply(lines.join('\n'), limit), { lines });
    const waiter = this.waiters.shift();
    if (!waiter) {
      this.early.push(reply);
      return;
    }
    const next = this.waiters[0];
    if (next) this.arm(next.state);
    else this.socket.setTimeout(0);
    waiter.resolve(reply);
  }

  /**
   * Waits for the next reply, answering a command sent in `state`. A failed
   * session rejects every reply awaited; those the caller never gets to
   * await (after an earlier one failed) must not count as unhandled.
   */
  private expect(state: SessionState): Promise<SmtpReply & { lines: string[] }> {
    const ready = this.early.shift();
    const promise: Promise<SmtpReply & { lines: string[] }> = this.failure
      ? Promise.reject(this.failure)
      : ready
        ? Promise.resolve(ready as SmtpReply & { lines: string[] })
        : new Promise((resolve, reject) => {
            if (this.waiters.length === 0) this.arm(state);
            this.waiters.push({ state, resolve: resolve as (r: SmtpReply) => void, reject });
          });
    promise.catch(() => undefined);
    return promise;
  }

  private write(data: string | Buffer): void {
    if (this.failure) return;
    this.socket.write(data);
  }

  private command(line: string, state: SessionState): Promise<SmtpReply & { lines: string[] }> {
    this.write(`${line}\r\n`);
    return this.expect(state);
  }

  /** The session fails: every reply awaited fails with the reason, in Postfix's words. */
  private fail(kind: 'timeout' | 'lost' | 'protocol', note = ''): void {
    if (this.failure) return;
    let state = this.waiters[0]?.state ?? this.lastState;
    // the content was still being written when the connection went
    if (state === 'dot' && this.socket.writableLength > 0) state = 'body';
    const text =
      kind === 'timeout'
        ? `conversation with ${this.peer} timed out while ${stateTextOf(state)}`
        : kind === 'protocol'
          ? `lost connection with ${this.peer} while ${stateTextOf(state)} (server reply too long)`
          : `lost connection with ${this.peer} while ${stateTextOf(state)}${note}`;
    this.failure = new SessionError(kind === 'protocol' ? 'protocol' : kind, state, text);
    this.closed = true;
    this.socket.destroy();
    for (const w of this.waiters.splice(0)) w.reject(this.failure);
  }

  /** EHLO keywords the server offered (upper case). */
  get extensions(): readonly string[] {
    return this.ext;
  }

  /** SASL mechanisms the server offered (upper case). */
  get authMechanisms(): readonly string[] {
    return this.auth;
  }

  /** The server's SIZE limit (0: none announced). */
  get sizeLimit(): number {
    return this.maxSize;
  }

  get secure(): boolean {
    return !!this.secureSocket;
  }

  /** The TLS socket once STARTTLS succeeded. */
  get tlsSocket(): TLSSocket | undefined {
    return this.secureSocket;
  }

  /** True while the session can carry another transaction. */
  get usable(): boolean {
    return !this.closed && !this.socket.destroyed && this.socket.writable;
  }

  /** SASL AUTH with `mechanism` (PLAIN, LOGIN or CRAM-MD5). */
  async login(user: string, pass: string, mechanism: string): Promise<void> {
    const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');
    const step = async (line: string, want: number) => {
      const reply = await this.command(line, 'auth');
      if (reply.code !== want) throw new SessionError('reply', 'auth', reply.text, reply);
      return reply;
    };
    switch (mechanism.toUpperCase()) {
      case 'PLAIN':
        await step(`AUTH PLAIN ${b64(`\0${user}\0${pass}`)}`, 235);
        return;
      case 'LOGIN':
        await step('AUTH LOGIN', 334);
        await step(b64(user), 334);
        await step(b64(pass), 235);
        return;
      case 'CRAM-MD5': {
        const challenge = Buffer.from((await step('AUTH CRAM-MD5', 334)).text.slice(4).trim(), 'base64');
        await step(b64(`${user} ${createHmac('md5', pass).update(challenge).digest('hex')}`), 235);
        return;
      }
      default:
        throw new SessionError('protocol', 'auth', `SASL mechanism ${mechanism} is not supported`);
    }
  }

  /**
   * XFORWARD (smtp_proto.c): the client attributes in two commands, as
   * Postfix sends them, xtext-encoded, "[UNAVAILABLE]" for a missing value.
   * A refusal fails the transaction like a refused MAIL FROM.
   */
  private async xforward(attrs: Readonly<Record<string, string | undefined>>): Promise<void> {
    const value = (k: string) => (attrs[k] ? xtext(attrs[k]!) : '[UNAVAILABLE]');
    for (const keys of [['NAME', 'ADDR', 'PORT'], ['PROTO', 'HELO', 'IDENT', 'SOURCE']]) {
      const reply = await this.command(`XFORWARD ${keys.map((k) => `${k}=${value(k)}`).join(' ')}`, 'mail');
      if (reply.code < 200 || reply.code >= 300) throw new SessionError('reply', 'mail', reply.text, reply);
    }
  }

  /**
   * One mail transaction. Resolves with each recipient's reply; rejects with
   * a SessionError when the transaction as a whole fails (refused MAIL FROM
   * or DATA, a lost connection, a timeout).
   */
  async send(envelope: SessionEnvelope, content: Buffer): Promise<TransactionOutcome> {
    const has = (k: string) => this.ext.includes(k);
    if (envelope.xforward && has('XFORWARD')) await this.xforward(envelope.xforward);
    this.inTransaction = true;
    let mail = `MAIL FROM:<${envelope.sender}>`;
    if (has('SIZE') && envelope.size) mail += ` SIZE=${envelope.size}`;
    if (envelope.body8bit && has('8BITMIME')) mail += ' BODY=8BITMIME';
    if (envelope.smtputf8 && has('SMTPUTF8')) mail += ' SMTPUTF8';
    if (has('DSN')) {
      if (envelope.ret) mail += ` RET=${envelope.ret}`;
      if (envelope.envid) mail += ` ENVID=${xtext(envelope.envid)}`;
    }
    const rcpts = envelope.recipients.map((r) => {
      let line = `RCPT TO:<${r.address}>`;
      if (has('DSN')) {
        if (r.notify?.length) line += ` NOTIFY=${r.notify.join(',')}`;
        if (r.orcpt) line += ` ORCPT=${xtext(r.orcpt)}`;
      }
      return line;
    });
    const replies: ({ reply: SmtpReply; state: SessionState } | undefined)[] = [];
    const accepted: number[] = [];
    const noteRcpt = (i: number, reply: SmtpReply) => {
      if (reply.code >= 200 && reply.code < 300) accepted.push(i);
      else replies[i] = { reply, state: 'rcpt' };
    };
    let dataReply: SmtpReply;
    if (envelope.traceOnly) {
      // smtp_proto.c with DEL_REQ_TRACE_ONLY: what the server says to RCPT is the answer; the caller RSETs
      const mr = await this.command(mail, 'mail');
      if (mr.code < 200 || mr.code >= 300) throw new SessionError('reply', 'mail', mr.text, mr);
      for (let i = 0; i < rcpts.length; i++) {
        const reply = await this.command(rcpts[i]!, 'rcpt');
        replies[i] = { reply, state: 'rcpt' };
      }
      return { replies: replies.map((r) => r!) };
    }
    if (has('PIPELINING')) {
      // RFC 2920: the envelope and DATA in one write; the replies come back in order
      this.write(`${mail}\r\n${rcpts.join('\r\n')}\r\nDATA\r\n`);
      const mailReply = this.expect('mail');
      const rcptReplies = rcpts.map(() => this.expect('rcpt'));
      const data = this.expect('data');
      const mr = await mailReply;
      for (let i = 0; i < rcptReplies.length; i++) noteRcpt(i, await rcptReplies[i]!);
      dataReply = await data;
      if (dataReply.code === 354 && (mr.code < 200 || mr.code >= 300 || accepted.length === 0)) {
        // the server took DATA without a valid envelope: send nothing
        this.write(DOT_CRLF);
        await this.expect('dot');
        this.inTransaction = false;
      }
      if (mr.code < 200 || mr.code >= 300) throw new SessionError('reply', 'mail', mr.text, mr);
      if (accepted.length === 0) return { replies: replies.map((r) => r!) };
    } else {
      const mr = await this.command(mail, 'mail');
      if (mr.code < 200 || mr.code >= 300) throw new SessionError('reply', 'mail', mr.text, mr);
      for (let i = 0; i < rcpts.length; i++) noteRcpt(i, await this.command(rcpts[i]!, 'rcpt'));
      if (accepted.length === 0) return { replies: replies.map((r) => r!) };
      dataReply = await this.command('DATA', 'data');
    }
    if (dataReply.code !== 354) throw new SessionError('reply', 'data', dataReply.text, dataReply);

    this.lastState = 'body';
    const flushed = this.socket.write(smtpData(content));
    const finals = this.opts.lmtp ? accepted.map(() => this.expect('dot')) : [this.expect('dot')];
    if (!flushed) {
      // smtp_data_xfer_timeout while the content drains, then smtp_data_done_timeout
      this.arm('body');
      this.socket.once('drain', () => !this.failure && this.arm('dot'));
    }
    if (this.opts.lmtp) {
      for (let k = 0; k < accepted.length; k++) replies[accepted[k]!] = { reply: await finals[k]!, state: 'dot' };
      this.inTransaction = false;
    } else {
      const reply = await finals[0]!;
      this.inTransaction = false;
      if (reply.code < 200 || reply.code >= 300) throw new SessionError('reply', 'dot', reply.text, reply);
      for (const i of accepted) replies[i] = { reply, state: 'dot' };
    }
    this.uses++;
    this.lastUsed = Date.now();
    return { replies: replies.map((r) => r!) };
  }

  /**
   * RSET, so the session can carry the next transaction; not needed after the
   * reply to the end of data, which ends the transaction (RFC 5321 4.1.1.4).
   */
  async reset(): Promise<void> {
    if (!this.inTransaction) return;
    this.inTransaction = false;
    const reply = await this.command('RSET', 'rset');
    if (reply.code < 200 || reply.code >= 300) throw new SessionError('reply', 'rset', reply.text, reply);
  }

  /** QUIT and close (errors ignored: the work is done). */
  quit(): void {
    if (this.closed) return;
    const usable = this.usable;
    this.closed = true;
    const socket = this.socket;
    this.detach(socket);
    if (usable) socket.end('QUIT\r\n');
    setTimeout(() => socket.destroy(), Math.min(this.seconds('quit') * 1000, 2000)).unref();
  }

  /** Drops the connection at once. */
  close(): void {
    this.closed = true;
    this.detach(this.socket);
    this.socket.destroy();
    for (const w of this.waiters.splice(0)) w.reject(new SessionError('lost', w.state, `lost connection with ${this.peer} while ${stateTextOf(w.state)}`));
  }

  /** Any error of a transaction as a SessionError in Postfix's terms. */
  translate(err: unknown): SessionError {
    if (err instanceof SessionError) return err;
    return this.failure ?? new SessionError('lost', this.lastState, `lost connection with ${this.peer} while ${stateTextOf(this.lastState)}`);
  }
}

const CONNECT_ERRORS: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'Connection refused',
  ETIMEDOUT: 'Connection timed out',
  EHOSTUNREACH: 'No route to host',
  ENETUNREACH: 'Network is unreachable',
  ECONNRESET: 'Connection reset by peer',
  ENOENT: 'No such file or directory',
  EACCES: 'Permission denied',
  EADDRNOTAVAIL: 'Cannot assign requested address',
};

async function connectSocket(opts: SessionOptions, signal?: AbortSignal): Promise<Socket> {
  const ep = opts.endpoint;
  const where = ep.path ? `${ep.host}[${ep.path}]` : `${ep.host}[${ep.address}]:${ep.port}`;
  return new Promise<Socket>((resolve, reject) => {
    const socket = ep.path
      ? createConnection({ path: ep.path })
      : createConnection({ host: ep.address!, port: ep.port!, ...(opts.bindAddress && { localAddress: opts.bindAddress }) });
    const t = opts.timeouts.connect;
    const fail = (code: string, text?: string) => {
      cleanup();
      socket.destroy();
      reject(new SessionError('connect', 'greeting', `connect to ${where}: ${text ?? CONNECT_ERRORS[code] ?? code}`));
    };
    const timer = t > 0 ? setTimeout(() => fail('ETIMEDOUT'), t * 1000) : undefined;
    const onError = (err: NodeJS.ErrnoException) => fail(err.code ?? 'EIO', err.code && CONNECT_ERRORS[err.code] ? undefined : err.message);
    const onAbort = () => fail('ECANCELED', 'delivery cancelled');
    const cleanup = () => {
      if (timer) clearTimeout(timer);
      socket.off('error', onError);
      signal?.removeEventListener('abort', onAbort);
    };
    socket.once('error', onError);
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.once('connect', () => {
      cleanup();
      resolve(socket);
    });
  });
}
