/**
 * One SMTP or LMTP client session (Postfix's SMTP_SESSION with smtp_proto.c),
 * on nodemailer's SMTPConnection. nodemailer speaks the protocol (greeting,
 * EHLO/LHLO with HELO fallback, STARTTLS, AUTH, PIPELINING, SIZE, 8BITMIME,
 * DSN RET/ENVID, CRLF and dot-stuffing of the content, one reply per
 * recipient in LMTP mode); this module adds what Postfix needs besides:
 *
 *   - the socket is opened here (smtp_connect_timeout, smtp_bind_address,
 *     UNIX-domain sockets) and handed over as an open connection;
 *   - every command and reply is followed (nodemailer's transaction log), so
 *     each reply is known with the command it answers, per recipient, and a
 *     failure names the state Postfix names ("while sending RCPT TO");
 *   - per-command time limits (smtp_helo_timeout, smtp_mail_timeout,
 *     smtp_rcpt_timeout, smtp_data_init_timeout, smtp_data_xfer_timeout,
 *     smtp_data_done_timeout, smtp_rset_timeout, smtp_quit_timeout);
 *   - per-recipient DSN NOTIFY and ORCPT (nodemailer has one per envelope),
 *     and SMTPUTF8 on MAIL FROM whenever the message needs it.
 */
import { createConnection, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import type { ConnectionOptions, TLSSocket } from 'node:tls';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import { commandState, parseReply, stateText as stateTextOf, type SessionState, type SmtpReply } from './reply.js';

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

/** The nodemailer internals this module relies on (all in SMTPConnection's source). */
interface ConnInternals {
  _socket: Socket | TLSSocket | false | null;
  _supportedExtensions: string[];
  _supportedAuth: string[];
  _maxAllowedSize: number;
  _plaintextEhlo?: string | false;
  _sendCommand(str: string, logStr?: string): void;
  _envelope?: { accepted?: string[] } | false;
  secure: boolean;
}

interface Pending {
  readonly state: SessionState;
  /** Recipient position for RCPT TO and LMTP end-of-data replies. */
  readonly rcpt?: number;
}

const baseSendCommand = (SMTPConnection.prototype as unknown as ConnInternals)._sendCommand;

let sessionIds = 0;

export class ClientSession {
  readonly id = ++sessionIds;
  /** "host[addr]" (Postfix namaddr). */
  readonly peer: string;
  /** "host[addr]:port" (relay= in the log). */
  readonly relay: string;
  readonly createdAt = Date.now();
  /** Transactions completed on this session (conn_use). */
  uses = 0;
  lastUsed = Date.now();
  private readonly conn: SMTPConnection & ConnInternals;
  private readonly pending: Pending[] = [{ state: 'greeting' }];
  private rcptSeq = 0;
  private rcptParams: string[] = [];
  private rcptReplies: ({ reply: SmtpReply; state: SessionState } | undefined)[] = [];
  private wantSmtputf8 = false;
  private lastState: SessionState = 'greeting';
  private lastReply: SmtpReply | undefined;
  private closed = false;
  private failure: Error | undefined;

  private constructor(private readonly opts: SessionOptions, socket: Socket) {
    const ep = opts.endpoint;
    this.peer = `${ep.host}[${ep.path ?? ep.address}]`;
    this.relay = ep.path ? this.peer : `${this.peer}:${ep.port}`;
    const t = opts.timeouts;
    const ms = (s: number) => (s > 0 ? s * 1000 : 0x7fffffff);
    const self = this;
    const tls = opts.tls;
    this.conn = new SMTPConnection({
      connection: socket,
      lmtp: opts.lmtp,
      name: opts.heloName,
      host: ep.address ?? ep.host,
      ...(ep.port !== undefined && { port: ep.port }),
      greetingTimeout: ms(t.helo),
      connectionTimeout: Math.min(0x7fffffff, ms(t.helo) + ms(t.starttls)),
      socketTimeout: ms(t.helo),
      socketCloseTimeout: 0,
      maxResponseSize: opts.maxReplySize ?? 1024 * 1024,
      ignoreTLS: !tls,
      requireTLS: tls?.required ?? false,
      ...(tls && { tls: tls.options }),
      transactionLog: true,
      logger: {
        level() {},
        trace() {},
        info() {},
        warn() {},
        error() {},
        fatal() {},
        debug(data: unknown, ...args: unknown[]) {
          if ((data as { tnx?: string })?.tnx === 'server') self.onReply(String(args.length > 1 ? args[1] : args[0] ?? ''));
        },
      } as never,
    }) as SMTPConnection & ConnInternals;
    this.conn._sendCommand = function (this: ConnInternals, str: string, logStr?: string) {
      self.onCommand(this, str);
      let line = str;
      if (line.startsWith('MAIL FROM:') && self.wantSmtputf8 && this._supportedExtensions.includes('SMTPUTF8') && !/ SMTPUTF8\b/.test(line)) {
        line += ' SMTPUTF8';
      }
      if (line.startsWith('RCPT TO:')) {
        const extra = self.rcptParams[self.rcptSeq - 1];
        if (extra && this._supportedExtensions.includes('DSN')) line += extra;
      }
      baseSendCommand.call(this, line, logStr);
    };
    this.conn.on('error', (err: Error) => {
      this.failure ??= err;
      this.closed = true;
    });
    this.conn.on('end', () => void (this.closed = true));
  }

  /** Opens the socket, waits for the greeting, EHLO/LHLO and STARTTLS as the options say. */
  static async open(opts: SessionOptions, signal?: AbortSignal): Promise<ClientSession> {
    const socket = await connectSocket(opts, signal);
    const session = new ClientSession(opts, socket);
    await new Promise<void>((resolve, reject) => {
      // nodemailer reports most setup failures as 'error' events, some through the callback.
      const onError = (err: Error) => reject(session.translate(err));
      session.conn.once('error', onError);
      const onAbort = () => {
        session.close();
        reject(new SessionError('lost', session.lastState, `lost connection with ${session.peer} while ${stateTextOf(session.lastState)} (delivery cancelled)`));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      session.conn.connect((err) => {
        session.conn.off('error', onError);
        signal?.removeEventListener('abort', onAbort);
        if (err) reject(session.translate(err));
        else resolve();
      });
    });
    return session;
  }

  private timeoutFor(state: SessionState): number {
    const t = this.opts.timeouts;
    const map: Partial<Record<SessionState, number>> = {
      ehlo: t.helo,
      helo: t.helo,
      lhlo: t.helo,
      auth: t.helo,
      starttls: t.starttls,
      mail: t.mail,
      rcpt: t.rcpt,
      data: t.dataInit,
      body: t.dataXfer,
      dot: t.dataDone,
      rset: t.rset,
      quit: t.quit,
    };
    return map[state] ?? t.helo;
  }

  private setTimer(state: SessionState): void {
    const s = this.conn._socket;
    const secs = this.timeoutFor(state);
    if (s) s.setTimeout(secs > 0 ? secs * 1000 : 0);
  }

  private onCommand(conn: ConnInternals, str: string): void {
    const state = commandState(str) ?? 'auth';
    if (state === 'rcpt') this.pending.push({ state, rcpt: this.rcptSeq++ });
    else this.pending.push({ state });
    this.lastState = state;
    if (conn._socket) this.setTimer(state);
  }

  private onReply(raw: string): void {
    const p = this.pending.shift();
    const reply = parseReply(raw, this.opts.replyLimit);
    this.lastReply = reply;
    if (!p) return;
    // RCPT TO: refusals decide now; acceptances wait for the end of DATA (LMTP: a reply each).
    if (p.rcpt !== undefined && (p.state === 'dot' || reply.code < 200 || reply.code >= 300)) {
      this.rcptReplies[p.rcpt] = { reply, state: p.state };
    }
    this.lastState = this.pending[0]?.state ?? p.state;
  }

  /** EHLO keywords the server offered (upper case). */
  get extensions(): readonly string[] {
    return this.conn._supportedExtensions;
  }

  /** SASL mechanisms offered that nodemailer can run. */
  get authMechanisms(): readonly string[] {
    return this.conn._supportedAuth;
  }

  /** The server's SIZE limit (0: none announced). */
  get sizeLimit(): number {
    return this.conn._maxAllowedSize || 0;
  }

  get secure(): boolean {
    return this.conn.secure;
  }

  /** The TLS socket once STARTTLS succeeded. */
  get tlsSocket(): TLSSocket | undefined {
    return this.conn.secure && this.conn._socket ? (this.conn._socket as TLSSocket) : undefined;
  }

  /** True while the session can carry another transaction. */
  get usable(): boolean {
    const s = this.conn._socket;
    return !this.closed && !!s && !s.destroyed && s.writable;
  }

  private guarded: ((err: Error) => void) | undefined;

  /** Fails a pending login or reset when the connection errors (nodemailer emits 'error' then). */
  private guard(reject: (err: SessionError) => void): void {
    this.guarded = (err: Error) => {
      this.guarded = undefined;
      reject(this.translate(err));
    };
    this.conn.once('error', this.guarded);
  }

  private unguard(): void {
    if (this.guarded) this.conn.off('error', this.guarded);
    this.guarded = undefined;
  }

  /** SASL AUTH with `mechanism`. */
  async login(user: string, pass: string, mechanism: string): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.guard(reject);
      this.conn.login({ user, pass, method: mechanism }, (err) => {
        this.unguard();
        if (err) reject(this.translate(err));
        else resolve();
      });
    });
  }

  /**
   * One mail transaction. Resolves with each recipient's reply; rejects with
   * a SessionError when the transaction as a whole fails (refused MAIL FROM
   * or DATA, a lost connection, a timeout).
   */
  async send(envelope: SessionEnvelope, content: AsyncIterable<Buffer> | Buffer): Promise<TransactionOutcome> {
    this.wantSmtputf8 = envelope.smtputf8 ?? false;
    this.rcptSeq = 0;
    this.rcptReplies = [];
    this.rcptParams = envelope.recipients.map((r) => {
      const params: string[] = [];
      if (r.notify?.length) params.push(`NOTIFY=${r.notify.join(',')}`);
      if (r.orcpt) params.push(`ORCPT=${xtext(r.orcpt)}`);
      return params.length ? ` ${params.join(' ')}` : '';
    });
    const self = this;
    const count = envelope.recipients.length;
    const body = Readable.from(
      (async function* () {
        self.lastState = 'body';
        self.setTimer('body');
        if (Buffer.isBuffer(content)) yield content;
        else for await (const chunk of content) yield chunk;
        // The end of DATA: one reply (SMTP) or one per accepted recipient (LMTP).
        if (self.opts.lmtp) {
          for (let i = 0; i < count; i++) if (!self.rcptReplies[i]) self.pending.push({ state: 'dot', rcpt: i });
        } else self.pending.push({ state: 'dot' });
        self.lastState = 'dot';
        self.setTimer('dot');
      })(),
      { objectMode: false },
    );
    const dsn: { ret?: string; envid?: string } = {};
    if (envelope.ret) dsn.ret = envelope.ret;
    if (envelope.envid) dsn.envid = envelope.envid;
    let final: string;
    try {
      final = await new Promise<string>((resolve, reject) => {
        this.conn.send(
          {
            from: envelope.sender,
            to: envelope.recipients.map((r) => r.address),
            ...(envelope.size && { size: envelope.size }),
            use8BitMime: envelope.body8bit ?? false,
            ...((dsn.ret || dsn.envid) && { dsn }),
          },
          body,
          (err, info) => (err ? reject(err) : resolve(info?.response ?? '')),
        );
      });
    } catch (err) {
      const e = err as Error & { command?: string; response?: string };
      // All recipients refused: their own replies decide.
      if (e.command === 'RCPT TO' && this.rcptReplies.filter(Boolean).length === count) return { replies: this.rcptReplies.map((r) => r!) };
      throw this.translate(e);
    }
    this.uses++;
    this.lastUsed = Date.now();
    const finalReply = parseReply(final, this.opts.replyLimit);
    return {
      replies: envelope.recipients.map((_r, i) => this.rcptReplies[i] ?? { reply: finalReply, state: 'dot' as SessionState }),
    };
  }

  /** RSET, so the session can carry the next transaction. */
  async reset(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.guard(reject);
      this.conn.reset((err) => {
        this.unguard();
        if (err) reject(this.translate(err));
        else resolve();
      });
    });
  }

  /** QUIT and close (errors ignored: the work is done). */
  quit(): void {
    if (this.closed) return;
    const usable = this.usable;
    this.closed = true;
    try {
      if (usable) this.conn.quit();
    } catch {
      /* the peer went away first */
    }
    setTimeout(() => this.conn.close(), Math.min(this.timeoutFor('quit') * 1000, 2000)).unref();
  }

  /** Drops the connection at once. */
  close(): void {
    this.closed = true;
    this.conn.close();
  }

  /** A nodemailer error as a SessionError in Postfix's terms. */
  translate(err: unknown): SessionError {
    if (err instanceof SessionError) return err;
    const e = (this.failure && this.failure !== err && !(err as { response?: string })?.response ? this.failure : err) as Error & {
      code?: string;
      originalCode?: string;
      command?: string;
      response?: string;
    };
    const state = this.lastState;
    const response = e.response ?? '';
    if (e.code === 'ETIMEDOUT') return new SessionError('timeout', state, `conversation with ${this.peer} timed out while ${stateTextOf(state)}`);
    const inHandshake = state === 'starttls' && !response;
    if (e.code === 'ETLS' || inHandshake) {
      const plain = this.conn._plaintextEhlo;
      if (response && plain !== undefined && plain !== false && !/[ -]STARTTLS\b/im.test(plain)) {
        return new SessionError('tls-required', 'starttls', `TLS is required, but was not offered by host ${this.peer}`);
      }
      if (response) {
        return new SessionError('reply', 'starttls', `host ${this.peer} said: ${parseReply(response, this.opts.replyLimit).text} (in reply to STARTTLS command)`, parseReply(response, this.opts.replyLimit));
      }
      const certErr = /CERT|SIGNATURE|ISSUER|ALTNAME/i.test(String(e.originalCode ?? '')) || /certificate|altname|self.signed|verify|issuer|name mismatch/i.test(e.message);
      return new SessionError('tls', 'starttls', certErr ? `Server certificate not verified` : `Cannot start TLS: handshake failure`);
    }
    if (response) {
      const reply = parseReply(response, this.opts.replyLimit);
      const st = state === 'greeting' ? 'greeting' : replyState(e.command, state);
      return new SessionError('reply', st, reply.text, reply);
    }
    if (/maximum allowed size/.test(e.message)) {
      return new SessionError('protocol', state, `lost connection with ${this.peer} while ${stateTextOf(state)} (server reply too long)`);
    }
    return new SessionError('lost', state, `lost connection with ${this.peer} while ${stateTextOf(state)}`);
  }
}

function replyState(command: string | undefined, fallback: SessionState): SessionState {
  switch (command) {
    case 'MAIL FROM':
      return 'mail';
    case 'RCPT TO':
      return 'rcpt';
    case 'DATA':
      return fallback === 'dot' || fallback === 'body' ? 'dot' : 'data';
    case 'EHLO':
      return 'ehlo';
    case 'HELO':
      return 'helo';
    case 'LHLO':
      return 'lhlo';
    case 'RSET':
      return 'rset';
    default:
      return command?.startsWith('AUTH') ? 'auth' : fallback;
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
