/**
 * One SMTP session with Postfix's smtpd semantics (smtpd.c): the greeting,
 * the commands and their exact replies, error counting with the soft/hard
 * limits, the restriction checks of smtpd-check.ts, AUTH through the SASL
 * contract, and DATA streamed into cleanup. smtp-server (smtpd-server.ts)
 * does the socket, TLS and DATA-stream work underneath.
 */
import { applyXforward, forwardedClient, XFORWARD_KEYWORD } from './smtpd-xforward.js';
import { peerCertificate } from './smtpd-ccert.js';
import { reverse, lookup } from 'node:dns/promises';
import type { TLSSocket } from 'node:tls';
import type {
  NameResolver,
  CleanupRequest,
  CleanupService,
  ConfigView,
  DsnNotify,
  Logger,
  RewriteService,
  SaslServer,
  SaslStep,
  SmtpdHookRegistry,
  TableRegistry,
  LookupTable,
} from '@postern/core';
import { escapeText, filterCommand, openCommandFilter } from '@postern/core';
import { SmtpdReplyOut } from './smtpd-footer.js';
import { anvilLimitReply, etrnReply, isFlushSite, newQueueId, type AnvilService, type FlushService } from '@postern/core';
import { SmtpdEventLimits } from './smtpd-anvil.js';
import { SmtpdCheck } from './smtpd-check.js';
import type { NetworkMatcher } from './smtpd-peer.js';
import { normalizeAddress } from './smtpd-peer.js';
import { receivedHeader } from './smtpd-received.js';
import { securityOptions } from './smtpd-sasl.js';
import type { CommandSink, PosternConnection } from './smtpd-server.js';
import { countCommand, formatCounts, newState, resetTransaction, type SmtpdState } from './smtpd-state.js';
import { DataPump } from './smtpd-data.js';
import { queueSpaceReply } from './smtpd-space.js';
import {
  BdatTransaction,
  parseBdat,
  REPLY_BDAT_DISABLED,
  REPLY_BDAT_NULL,
  REPLY_BDAT_SYNTAX,
  REPLY_CHUNK_TOO_BIG,
  REPLY_MESSAGE_TOO_BIG,
  replyDiscarded,
} from './smtpd-bdat.js';
import { SmtpdMilters, type MilterVerdict } from './smtpd-milter.js';
import type { PolicyClients } from './smtpd-policy.js';
import type { SmtpdDnsxl } from './smtpd-dnsbl.js';
import type { VerifyService } from '@postern/core';
import { transpCleanupFlags, type InputTransp } from './smtpd-transp.js';
import type { SmtpdCommandLists } from './smtpd-commands.js';

/** What every session of one smtpd process shares. */
export interface SmtpdShared {
  readonly config: ConfigView;
  readonly log: Logger;
  readonly cleanup: CleanupService;
  readonly rewrite: RewriteService;
  readonly tables?: TableRegistry;
  readonly sasl?: SaslServer;
  readonly hooks: SmtpdHookRegistry;
  readonly mynetworks: NetworkMatcher;
  readonly bareNewlineExclusions: NetworkMatcher;
  /** anvil(8), for the connection count and rate limits (an unreachable anvil means no limits). */
  readonly anvil?: AnvilService;
  /** smtpd_client_event_limit_exceptions. */
  readonly eventLimitExceptions: NetworkMatcher;
  /** smtpd_authorized_xforward_hosts. */
  readonly xforwardHosts: NetworkMatcher;
  /** check_policy_service's connections. */
  readonly policy?: PolicyClients;
  /** reject_rbl_client and friends. */
  readonly dnsxl?: SmtpdDnsxl;
  /** DNS for reject_unknown_helo_hostname and check_*_{mx,ns,a}_access. */
  readonly resolver?: NameResolver;
  /** verify(8), for reject_unverified_*. */
  readonly verify?: VerifyService;
  /** flush(8), for ETRN. */
  readonly flush: FlushService;
  /** receive_override_options. */
  readonly transp: ReadonlySet<InputTransp>;
  /** smtpd_noop_commands and smtpd_forbidden_commands. */
  readonly commands: SmtpdCommandLists;
  /** A certificate is configured: STARTTLS (or wrapper mode) can work. */
  readonly tlsReady: boolean;
  /** Sleep used for smtpd_error_sleep_time (injectable for tests). */
  readonly sleep: (ms: number) => Promise<void>;
}

/** A handler's outcome: success, failure, or 'pending' for DATA (counted when the message is done). */
type Handler = (args: string, line: string) => Promise<boolean | 'pending'>;

const PRE_TLS = new Set(['ehlo', 'helo', 'starttls', 'quit', 'noop', 'rset']);
const JUNK = new Set(['noop', 'vrfy', 'rset', 'etrn']);
/** smtpd_sasl_response_limit's default. */
const SASL_RESPONSE_LIMIT = 12288;
/** strict_smtputf8's reply (smtpd.c). */
const MUST_DECLARE_SMTPUTF8 = '553 5.6.7 Must declare SMTPUTF8 to send unicode address';

export class SmtpdSession implements CommandSink {
  readonly state: SmtpdState;
  private check!: SmtpdCheck;
  private limits!: SmtpdEventLimits;
  /** A new TLS session's rate check: commands wait for it (smtpd checks before it reads on). */
  private tlsGate: Promise<void> | undefined;
  private readonly c: ConfigView;
  private readonly log: Logger;
  private readonly myhostname: string;
  private readonly handlers: Record<string, Handler>;
  private tlsLevel: 'none' | 'may' | 'encrypt';
  private quitting = false;
  /** postern_smtpd_protocol = lmtp: LHLO, and one reply per recipient after DATA (RFC 2033). */
  private readonly lmtp: boolean;
  /** Recipients the next reply is repeated for (the end of DATA in LMTP). */
  private lmtpReplies = 0;
  /** The reply chokepoint (smtpd_reject_footer). */
  private readonly out: SmtpdReplyOut;
  /** smtpd_command_filter's table. */
  private readonly commandFilter: LookupTable | undefined;
  private inData = false;
  private dataBytes = 0;

  constructor(
    private readonly shared: SmtpdShared,
    private readonly conn: PosternConnection,
  ) {
    this.c = shared.config;
    this.log = shared.log;
    this.myhostname = this.c.get('myhostname');
    // a UNIX-domain client is localhost[127.0.0.1] (smtpd_peer.c)
    this.local = !conn.remoteAddress;
    this.state = newState({
      name: this.local ? 'localhost' : 'unknown',
      address: this.local ? '127.0.0.1' : normalizeAddress(conn.remoteAddress),
      port: conn.remotePort ?? 0,
      localAddress: normalizeAddress(conn.localAddress),
      localPort: conn.localPort,
      portLogging: this.c.bool('smtpd_client_port_logging'),
    });
    const level = this.c.get('smtpd_tls_security_level').trim().toLowerCase();
    this.tlsLevel =
      level === 'encrypt' || (level === '' && this.c.bool('smtpd_enforce_tls'))
        ? 'encrypt'
        : level === 'may' || (level === '' && this.c.bool('smtpd_use_tls'))
          ? 'may'
          : 'none';
    if (this.tlsLevel !== 'none' && !shared.tlsReady) {
      this.log.warn('cannot get RSA private key or certificate (smtpd_tls_cert_file, smtpd_tls_key_file): disabling TLS support');
      this.tlsLevel = 'none';
    }
    this.out = new SmtpdReplyOut(this.c, this.state, (text) => this.conn.reply(text), shared.tables);
    const tables = shared.tables;
    this.commandFilter = tables ? openCommandFilter(this.c, 'smtpd_command_filter', (spec) => tables.open(spec)) : undefined;
    this.lmtp = this.c.get('postern_smtpd_protocol').trim().toLowerCase() === 'lmtp';
    const greetings: Record<string, Handler> = this.lmtp
      ? { lhlo: (a) => this.helo(a, true) }
      : { helo: (a) => this.helo(a, false), ehlo: (a) => this.helo(a, true) };
    this.handlers = {
      ...greetings,
      starttls: (a) => this.starttls(a),
      auth: (a) => this.auth(a),
      mail: (a) => this.mail(a),
      rcpt: (a) => this.rcpt(a),
      data: (a) => this.data(a),
      bdat: (a) => this.bdat(a),
      rset: (a) => this.rset(a),
      noop: async () => (this.reply('250 2.0.0 Ok'), true),
      vrfy: (a) => this.vrfy(a),
      etrn: (a) => this.etrn(a),
      xforward: (a) => this.xforward(a),
      quit: async () => {
        this.reply('221 2.0.0 Bye');
        this.quitting = true;
        this.hangup();
        return true;
      },
    };
  }

  // ---- lifecycle ------------------------------------------------------------------------

  /** The client came over a UNIX-domain socket. */
  private readonly local: boolean;

  async start(): Promise<void> {
    const s = this.state;
    if (!this.local) await this.peerName(s);
    s.namaddr = this.c.bool('smtpd_client_port_logging') ? `${s.name}[${s.address}]:${s.port}` : `${s.name}[${s.address}]`;
    this.log.info(`connect from ${s.namaddr}`);
    this.limits = new SmtpdEventLimits(this.c, this.log, this.shared.anvil, this.shared.eventLimitExceptions, s);
    if (await this.overConnectionLimits()) return;
    if (this.conn.wrapped && s.encrypted && !(this.conn._socket as TLSSocket).isSessionReused()) {
      await this.newTlsSession();
      if (this.quitting) return;
    }
    this.check = new SmtpdCheck(
      {
        config: this.c,
        log: this.log,
        rewrite: this.shared.rewrite,
        tables: this.shared.tables,
        hooks: this.shared.hooks,
        mynetworks: this.shared.mynetworks,
        policy: this.shared.policy,
        dnsxl: this.shared.dnsxl,
        verify: this.shared.verify,
        sleep: this.shared.sleep,
        resolver: this.shared.resolver,
        transp: this.shared.transp,
      },
      s,
    );
    const forbid = this.c.get('smtpd_forbid_bare_newline').trim().toLowerCase();
    if ((forbid === 'yes' || forbid === 'reject') && !(await this.shared.bareNewlineExclusions.match(s.address, s.name))) {
      this.conn.rejectBareNewline = true;
      if (this.conn.stream) this.conn.stream.rejectBareNewline = true;
    }
    const denied = await this.check.client();
    if (denied) {
      s.accessDenied = denied;
      this.reply(denied);
      return;
    }
    try {
      this.milters = await SmtpdMilters.open(this.c, this.log, s, (action, text, recipient) => this.check.logAction(action, text, { stage: 'rcpt', recipient }), this.shared.transp.has('no_milters'), this.shared.tables);
    } catch (err) {
      // a bad smtpd_milters setting (milter8_conf_error)
      this.log.warn(`smtpd_milters: ${(err as Error).message}`);
      this.reply(`421 4.3.5 ${this.myhostname} Server configuration problem - try again later`);
      this.quitting = true;
      this.hangup();
      return;
    }
    const milter = await this.milters?.connect();
    if (milter?.greeting) {
      s.errorCount++;
      this.reply(milter.greeting);
      if (milter.close) {
        this.quitting = true;
        this.hangup();
      }
      return;
    }
    this.reply(`220 ${this.c.expand(this.c.get('smtpd_banner'))}`);
  }

  secured(socket: TLSSocket): void {
    const s = this.state;
    s.encrypted = true;
    const cipher = socket.getCipher();
    const proto = socket.getProtocol() ?? cipher?.version ?? 'TLS';
    const bits = cipherBits(cipher?.name ?? '');
    const peer = this.c.bool('smtpd_tls_ask_ccert') ? peerCertificate(socket, this.c.get('smtpd_tls_fingerprint_digest').trim() || 'sha256') : undefined;
    s.tls = { protocol: proto, cipher: cipher?.standardName ?? cipher?.name ?? 'unknown', bits, peer };
    if (this.c.int('smtpd_tls_loglevel') >= 1) {
      const kind = !peer ? 'Anonymous' : peer.trusted ? 'Trusted' : 'Untrusted';
      this.log.info(`${kind} TLS connection established from ${s.namaddr}: ${proto} with cipher ${s.tls.cipher} (${bits}/${bits} bits)`);
    }
    // wrapper mode: start() checks it before the greeting
    if (!socket.isSessionReused() && !this.conn.wrapped) this.tlsGate = this.newTlsSession();
    if (!this.conn.wrapped) {
      // RFC 3207: forget what the client told us before the handshake.
      s.helo = undefined;
      s.protocol = 'SMTP';
      s.ehloPipelining = false;
      s.saslUsername = undefined;
      s.saslMethod = undefined;
      resetTransaction(s);
    }
  }

  timeout(): void {
    const s = this.state;
    this.log.info(`timeout after ${this.whereText()} from ${s.namaddr}`);
    this.reply(`421 4.4.2 ${this.myhostname} Error: timeout exceeded`);
    this.quitting = true;
    this.hangup();
  }

  /** A TLS ClientHello on a plaintext port: say so instead of waiting for a line that never comes. */
  tlsHello(): void {
    const s = this.state;
    this.log.warn(`${s.namaddr}: TLS handshake on a plaintext SMTP port: use STARTTLS${this.shared.tlsReady ? '' : ' (not offered)'} or the smtps port`);
    this.reply(`421 4.7.0 ${this.myhostname} Error: TLS handshake on a plaintext port`);
    this.quitting = true;
    this.hangup();
  }

  bareNewline(): void {
    const code = this.c.int('smtpd_forbid_bare_newline_reject_code') || 550;
    const reply = `${code} ${code >= 500 ? '5' : '4'}.5.2 Error: bare <LF> received`;
    this.check.logAction('reject', reply, { stage: this.inData ? 'data' : 'rcpt' });
    this.reply(reply);
    this.quitting = true;
    this.abortData = true;
    this.hangup();
  }

  private abortData = false;

  /** smtpd_client_new_tls_session_rate_limit after a full handshake: 421 and hang up. */
  private async newTlsSession(): Promise<void> {
    const over = await this.limits.over('newtls');
    if (!over) return;
    this.reply(over);
    this.quitting = true;
    this.hangup();
  }

  /** smtpd_client_connection_count_limit and _rate_limit, counted by anvil(8) as Postfix's smtpd does. */
  private async overConnectionLimits(): Promise<boolean> {
    const { anvil } = this.shared;
    const s = this.state;
    const countLimit = this.c.int('smtpd_client_connection_count_limit');
    const rateLimit = this.c.int('smtpd_client_connection_rate_limit');
    if (!anvil || (countLimit <= 0 && rateLimit <= 0)) return false;
    if (await this.shared.eventLimitExceptions.match(s.address, s.name)) return false;
    const service = this.c.get('service_name');
    const r = await anvil.connect(service, s.address);
    this.anvilCounted = true;
    const over =
      anvilLimitReply('count', r.count, countLimit, s.address, service, this.myhostname, s.namaddr) ??
      anvilLimitReply('rate', r.rate, rateLimit, s.address, service, this.myhostname, s.namaddr);
    if (!over) return false;
    this.log.warn(over.warning);
    this.reply(over.reply);
    this.quitting = true;
    this.hangup();
    return true;
  }

  private anvilCounted = false;

  /** smtpd_milters of this session (smtpd-milter.ts). */
  private milters?: SmtpdMilters;

  /** A milter's reply to a command: refuse it (and disconnect after 421). */
  private async milterRefusal(v: MilterVerdict | undefined): Promise<false | undefined> {
    if (!v?.reply) return undefined;
    await this.error(v.reply);
    if (v.close) {
      this.quitting = true;
      this.hangup();
    }
    return false;
  }

  closed(): void {
    const s = this.state;
    if (this.anvilCounted) void this.shared.anvil?.disconnect(this.c.get('service_name'), s.address);
    if (this.saslExchange !== undefined) void this.shared.sasl?.abort(this.saslExchange);
    this.conn.stream?.abortChunk();
    this.endBdat();
    this.milters?.quit();
    if (this.inData) countCommand(s, 'data', false);
    if (!this.quitting) this.log.info(`lost connection after ${this.whereText()} from ${s.namaddr}`);
    this.log.info(`disconnect from ${s.namaddr} ${formatCounts(s)}`);
  }

  private whereText(): string {
    if (this.bdatTx) return `BDAT (${this.bdatTx.bytes} bytes)`;
    return this.inData ? `DATA (${this.dataBytes} bytes)` : this.state.where;
  }

  // ---- replies ------------------------------------------------------------------------------

  private reply(line: string): void {
    const n = this.lmtpReplies;
    this.lmtpReplies = 0;
    this.out.reply(n > 1 ? Array<string>(n).fill(line).join('\r\n') : line);
  }

  /** Closes the connection once the queued replies are out. */
  private hangup(): void {
    this.out.after(() => this.conn.close());
  }

  /** An error reply: counted, and slowed down past smtpd_soft_error_limit (smtpd_chat_reply). */
  private async error(line: string): Promise<false> {
    if (this.state.errorCount >= this.c.int('smtpd_soft_error_limit')) {
      await this.shared.sleep(this.c.time('smtpd_error_sleep_time') * 1000);
    }
    this.reply(line);
    return false;
  }

  // ---- command dispatch ------------------------------------------------------------------------

  /** smtpd_command_filter; undefined after a lookup error (the client is dropped, as smtpd does). */
  private async filtered(line: string): Promise<string | undefined> {
    try {
      const r = await filterCommand(this.commandFilter, line, this.state.namaddr);
      if (r.logged) this.log.info(r.logged);
      return r.line;
    } catch (err) {
      const t = this.commandFilter as LookupTable;
      this.log.warn(`${t.spec} lookup error for "${line.slice(0, 100)}": ${(err as Error).message}`);
      this.quitting = true;
      this.conn.close();
      return undefined;
    }
  }

  async command(raw: Buffer, pending: boolean): Promise<void> {
    const s = this.state;
    if (this.tlsGate) await this.tlsGate;
    if (this.quitting) return;
    this.out.recipient = undefined;
    const line = await this.filtered(raw.toString('utf8'));
    if (line === undefined) return;
    const m = /^\s*(\S+)\s*(.*?)\s*$/s.exec(line);
    const word = m?.[1] ?? '';
    const verb = word.toLowerCase();
    const args = m?.[2] ?? '';
    if (word !== '' && this.shared.commands.hasNoop && (await this.shared.commands.isNoop(word))) {
      // no syntax check, no state change, no command count ("XXX We can't count these.")
      this.reply('250 2.0.0 Ok');
      await this.out.flushed();
      if (s.junkCommands++ > this.c.int('smtpd_junk_command_limit')) s.errorCount++;
      return;
    }
    const handler = Object.prototype.hasOwnProperty.call(this.handlers, verb) ? this.handlers[verb] : undefined;
    const name = handler ? verb : 'unknown';
    s.where = handler ? verb.toUpperCase() : 'UNKNOWN';
    if (!handler && word !== '' && (await this.shared.commands.isForbidden(word))) {
      this.log.warn(`non-SMTP command from ${s.namaddr}: ${escapeText(Buffer.from(line, 'utf8'))}`);
      this.reply('221 2.7.0 Error: I can break rules, too. Goodbye.');
      this.quitting = true;
      this.hangup();
      return;
    }
    if (pending && !s.ehloPipelining && name !== 'quit') s.illegalPipelining ??= s.where;
    let ok: boolean | 'pending';
    if (!handler) {
      ok = await this.error('500 5.5.2 Error: command not recognized');
    } else if (s.accessDenied && name !== 'quit') {
      ok = await this.error(`503 5.7.0 Error: access denied for ${s.namaddr}`);
    } else if (this.tlsLevel === 'encrypt' && !s.encrypted && !PRE_TLS.has(name)) {
      ok = await this.error('530 5.7.0 Must issue a STARTTLS command first');
    } else {
      ok = await handler(args, line);
    }
    await this.out.flushed();
    if (ok === 'pending') return;
    if (JUNK.has(name) && ++s.junkCommands > this.c.int('smtpd_junk_command_limit')) s.errorCount++;
    this.finishCommand(name, ok);
  }

  /** Counts a command for the disconnect line and enforces smtpd_hard_error_limit. */
  private finishCommand(name: string, ok: boolean): void {
    const s = this.state;
    countCommand(s, name, ok);
    if (!ok) s.errorCount++;
    if (!this.quitting && !this.conn._closing && s.errorCount >= this.c.int('smtpd_hard_error_limit')) {
      this.log.info(`too many errors after ${s.where} from ${s.namaddr}`);
      this.reply(`421 4.7.0 ${this.myhostname} Error: too many errors`);
      this.quitting = true;
      this.hangup();
    }
  }

  // ---- HELO / EHLO -------------------------------------------------------------------------------

  private async helo(args: string, ehlo: boolean): Promise<boolean> {
    const s = this.state;
    if (!args || /\s/.test(args)) return this.error(`501 Syntax: ${this.lmtp ? 'LHLO' : ehlo ? 'EHLO' : 'HELO'} hostname`);
    resetTransaction(s);
    s.helo = args.replace(/[\x00-\x1f\x7f]/g, '?');
    s.protocol = this.lmtp ? 'LMTP' : ehlo ? 'ESMTP' : 'SMTP';
    s.ehloPipelining = false;
    const err = await this.check.helo(s.helo);
    if (err) {
      s.helo = undefined;
      return this.error(err);
    }
    // a milter's HELO reply refuses the command only when it is 421 (smtpd.c: other refusals show at MAIL)
    const mv = await this.milters?.helo(s.helo);
    if (mv?.close && (await this.milterRefusal(mv)) === false) return false;
    if (!ehlo) {
      this.reply(`250 ${this.myhostname}`);
      return true;
    }
    const discard = new Set(this.c.list('smtpd_discard_ehlo_keywords').map((k) => k.toLowerCase()));
    const lines = [this.myhostname];
    const add = (kw: string) => {
      if (!discard.has(kw.split(/[ =]/)[0]!.toLowerCase())) lines.push(kw);
    };
    add('PIPELINING');
    const limit = this.c.size('message_size_limit');
    add(limit > 0 ? `SIZE ${limit}` : 'SIZE');
    if (!this.c.bool('disable_vrfy_command')) add('VRFY');
    add('ETRN');
    if (await this.xforwardAuthorized()) add(XFORWARD_KEYWORD);
    if (this.tlsLevel !== 'none' && !s.encrypted) add('STARTTLS');
    const mechs = await this.authMechanisms();
    if (mechs.length > 0) {
      add(`AUTH ${mechs.join(' ')}`);
      if (this.c.bool('broken_sasl_auth_clients')) add(`AUTH=${mechs.join(' ')}`);
    }
    add('ENHANCEDSTATUSCODES');
    add('8BITMIME');
    add('DSN');
    add('SMTPUTF8');
    add('CHUNKING');
    s.ehloPipelining = !discard.has('pipelining');
    this.reply(lines.map((l, i) => `250${i === lines.length - 1 ? ' ' : '-'}${l}`).join('\r\n'));
    return true;
  }

  // ---- XFORWARD ------------------------------------------------------------------------------

  private xforwardAllowed: boolean | undefined;
  private async xforwardAuthorized(): Promise<boolean> {
    return (this.xforwardAllowed ??= await this.shared.xforwardHosts.match(this.state.address, this.state.name));
  }

  private async xforward(args: string): Promise<boolean> {
    const s = this.state;
    if (!(await this.xforwardAuthorized())) return this.error('550 5.7.0 Error: insufficient authorization');
    if (s.sender !== undefined) return this.error('503 5.5.1 Error: MAIL transaction in progress');
    const r = applyXforward(s.xforward, args);
    if ('error' in r) return this.error(r.error);
    s.xforward = r.attrs;
    this.reply('250 2.0.0 Ok');
    return true;
  }

  // ---- STARTTLS ------------------------------------------------------------------------------

  private async starttls(args: string): Promise<boolean> {
    const s = this.state;
    if (args) return this.error('501 5.5.4 Syntax: STARTTLS');
    if (s.encrypted) return this.error('554 5.5.1 Error: TLS already active');
    if (this.tlsLevel === 'none') return this.error('502 5.5.1 Error: command not implemented');
    const tooMany = await this.limits.over('starttls');
    if (tooMany) return this.error(tooMany);
    this.reply('220 2.0.0 Ready to start TLS');
    // smtp-server retires the plain-text parser (discarding anything queued behind
    // STARTTLS) and calls back once the handshake is done and a new parser reads.
    this.conn.upgrade(
      () => undefined,
      () => this.secured(this.conn._socket as TLSSocket),
    );
    return true;
  }

  // ---- AUTH ----------------------------------------------------------------------------------

  private saslActive(): boolean {
    const s = this.state;
    if (!this.shared.sasl || !this.c.bool('smtpd_sasl_auth_enable')) return false;
    if (new Set(this.c.list('smtpd_discard_ehlo_keywords').map((k) => k.toLowerCase())).has('auth')) return false;
    return !(this.c.bool('smtpd_tls_auth_only') && !s.encrypted);
  }

  private async authMechanisms(): Promise<string[]> {
    if (!this.saslActive() || this.state.saslUsername !== undefined) return [];
    const opts = securityOptions(this.c.list(this.state.encrypted ? 'smtpd_sasl_tls_security_options' : 'smtpd_sasl_security_options'));
    try {
      return await this.shared.sasl!.mechanisms(opts, this.saslClient());
    } catch (err) {
      this.log.warn(`SASL: ${(err as Error).message}`);
      return [];
    }
  }

  private saslClient() {
    const s = this.state;
    return {
      address: s.address,
      localAddress: s.localAddress,
      port: s.port,
      localPort: s.localPort,
      secured: s.encrypted,
      service: this.c.get('smtpd_sasl_service') || 'smtp',
      realm: this.c.get('smtpd_sasl_local_domain') || undefined,
    };
  }

  private async auth(args: string): Promise<boolean | 'pending'> {
    const s = this.state;
    if (this.c.bool('smtpd_helo_required') && !s.helo) return this.error('503 5.5.1 Error: send HELO/EHLO first');
    if (!this.shared.sasl || !this.c.bool('smtpd_sasl_auth_enable')) return this.error('503 5.5.1 Error: authentication not enabled');
    const tooMany = await this.limits.over('auth');
    if (tooMany) return this.error(tooMany);
    if (this.c.bool('smtpd_tls_auth_only') && !s.encrypted)
      return this.error('504 5.5.4 Encryption required for requested authentication mechanism');
    if (s.saslUsername !== undefined) return this.error('503 5.5.1 Error: already authenticated');
    if (s.sender !== undefined) return this.error('503 5.5.1 Error: MAIL transaction in progress');
    const parts = args.split(/\s+/).filter(Boolean);
    if (parts.length < 1 || parts.length > 2) return this.error('501 5.5.4 Syntax: AUTH mechanism');
    const mech = parts[0]!.toUpperCase();
    let initial = parts[1];
    if (initial === '=') initial = '';
    else if (initial !== undefined && !/^[A-Za-z0-9+/]*={0,2}$/.test(initial)) return this.error('501 5.5.2 Cannot decode response');
    const offered = await this.authMechanisms();
    let step: SaslStep;
    if (!offered.includes(mech)) step = { status: 'fail', id: '', reason: 'Invalid authentication mechanism' };
    else step = await this.shared.sasl.start({ mechanism: mech, initialResponse: initial, client: this.saslClient() });
    return this.authStep(mech, step);
  }

  /** Handles one SASL step: a 334 challenge (the reply line comes through smtp-server's continuation handler), or the outcome. */
  private async authStep(mech: string, step: SaslStep): Promise<boolean | 'pending'> {
    const s = this.state;
    if (step.status === 'continue') {
      this.saslExchange = step.id;
      this.reply(`334 ${step.challenge}`);
      const stream = this.conn.stream;
      if (stream) stream.nextLineLimit = this.c.int('smtpd_sasl_response_limit') || SASL_RESPONSE_LIMIT;
      this.conn._nextHandler = (line: Buffer, callback: () => void) => {
        const tooLong = stream?.truncated === true;
        this.authResponse(mech, step.id, line.toString('utf8').trim(), tooLong).then(
          (ok) => {
            if (ok !== 'pending') this.finishCommand('auth', ok);
            callback();
          },
          (err: Error) => {
            this.log.warn(`SASL ${mech}: ${err.message}`);
            this.reply('454 4.7.0 Temporary authentication failure');
            this.finishCommand('auth', false);
            callback();
          },
        );
      };
      return 'pending';
    }
    this.saslExchange = undefined;
    if (step.status === 'ok') {
      s.saslUsername = step.username;
      s.saslMethod = mech;
      this.reply('235 2.7.0 Authentication successful');
      return true;
    }
    this.log.warn(`${s.namaddr}: SASL ${mech} authentication failed: ${step.reason}`);
    if (step.temporary) return this.error(`454 4.7.0 Temporary authentication failure: ${step.reason}`);
    return this.error(`535 5.7.8 Error: authentication failed: ${step.reason}`);
  }

  private async authResponse(mech: string, id: string, response: string, tooLong: boolean): Promise<boolean | 'pending'> {
    const sasl = this.shared.sasl!;
    if (tooLong) {
      this.saslExchange = undefined;
      await sasl.abort(id);
      return this.error('500 5.5.6 SASL response limit exceeded');
    }
    if (response === '*') {
      this.saslExchange = undefined;
      await sasl.abort(id);
      return this.error('501 5.7.0 Authentication aborted');
    }
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(response)) {
      this.saslExchange = undefined;
      await sasl.abort(id);
      return this.error('501 5.5.2 Cannot decode response');
    }
    return this.authStep(mech, await sasl.step(id, response));
  }

  /** The SASL exchange in progress, abandoned if the client leaves. */
  private saslExchange: string | undefined;

  // ---- MAIL / RCPT ---------------------------------------------------------------------------

  private async mail(args: string): Promise<boolean> {
    const s = this.state;
    if (this.c.bool('smtpd_helo_required') && !s.helo) return this.error('503 5.5.1 Error: send HELO/EHLO first');
    if (s.sender !== undefined) return this.error('503 5.5.1 Error: nested MAIL command');
    if (this.bdatTx) return this.error('503 5.5.1 Error: MAIL after BDAT');
    const p = parsePath(args, 'FROM', this.c.bool('strict_rfc821_envelopes'));
    if (p === 'syntax') return this.error('501 5.5.4 Syntax: MAIL FROM:<address>');
    const tooMuch = await this.limits.over('message');
    if (tooMuch) return this.error(tooMuch);
    if (p === 'bad') return this.error('501 5.1.7 Bad sender address syntax');
    let size: number | undefined;
    let body: '7BIT' | '8BITMIME' | undefined;
    let smtputf8 = false;
    let ret: 'FULL' | 'HDRS' | undefined;
    let envid: string | undefined;
    let authSender: string | undefined;
    for (const opt of p.params) {
      const eq = opt.indexOf('=');
      const key = (eq < 0 ? opt : opt.slice(0, eq)).toUpperCase();
      const val = eq < 0 ? undefined : opt.slice(eq + 1);
      if (key === 'SIZE' && val !== undefined) {
        if (!/^\d{1,20}$/.test(val)) return this.error('501 5.5.4 Bad message size syntax');
        size = Number(val);
      } else if (key === 'BODY' && val !== undefined && /^(7BIT|8BITMIME)$/i.test(val)) {
        body = val.toUpperCase() as '7BIT' | '8BITMIME';
      } else if (key === 'SMTPUTF8' && val === undefined) {
        smtputf8 = true;
      } else if (key === 'RET' && val !== undefined) {
        if (ret || !/^(FULL|HDRS)$/i.test(val)) return this.error('501 5.5.4 Bad RET parameter syntax');
        ret = val.toUpperCase() as 'FULL' | 'HDRS';
      } else if (key === 'ENVID' && val !== undefined) {
        const d = decodeXtext(val);
        if (envid || d === undefined || d.length > 100) return this.error('501 5.5.4 Bad ENVID parameter syntax');
        envid = d;
      } else if (key === 'AUTH' && val !== undefined) {
        if (!this.saslActive()) return this.error('503 5.5.4 Error: authentication disabled');
        const d = decodeXtext(val);
        if (d !== undefined && d !== '<>') authSender = d;
      } else {
        return this.error(`555 5.5.4 Unsupported option: ${opt}`);
      }
    }
    const limit = this.c.size('message_size_limit');
    if (size !== undefined && limit > 0 && size > limit) return this.error('552 5.3.4 Message size exceeds fixed limit');
    const space = await queueSpaceReply(this.c, this.log);
    if (space) {
      this.check.logAction('reject', space, { stage: 'mail' });
      return this.error(space);
    }
    s.sender = p.address;
    s.sizeAnnounced = size;
    const err = await this.check.mail(p.address);
    if (err) {
      resetTransaction(s);
      return this.error(err);
    }
    if (this.milters) {
      const refused = await this.milterRefusal(await this.milters.mail(p.address, p.params));
      if (refused === false) {
        this.milters.abort();
        resetTransaction(s);
        return false;
      }
    }
    if (!smtputf8 && this.unicodeRefused(p.address)) {
      this.milters?.abort();
      resetTransaction(s);
      return this.error(MUST_DECLARE_SMTPUTF8);
    }
    s.bodyType = body;
    s.smtputf8 = smtputf8;
    s.dsnRet = ret;
    s.dsnEnvid = envid;
    s.senderSaslAuth = authSender;
    this.reply('250 2.1.0 Ok');
    return true;
  }

  private async rcpt(args: string): Promise<boolean> {
    const s = this.state;
    if (s.sender === undefined) return this.error('503 5.5.1 Error: need MAIL command');
    if (this.bdatTx) return this.error('503 5.5.1 Error: RCPT after BDAT');
    const p = parsePath(args, 'TO', this.c.bool('strict_rfc821_envelopes'));
    if (p === 'syntax') return this.error('501 5.5.4 Syntax: RCPT TO:<address>');
    const tooMany = await this.limits.over('recipient');
    if (tooMany) return this.error(tooMany);
    const limit = this.c.int('smtpd_recipient_limit');
    if (limit > 0 && s.recipients.length >= limit) return this.error('452 4.5.3 Error: too many recipients');
    if (p === 'bad' || p.address === '') return this.error('501 5.1.3 Bad recipient address syntax');
    let notify: DsnNotify[] | undefined;
    let orcpt: string | undefined;
    for (const opt of p.params) {
      const eq = opt.indexOf('=');
      const key = (eq < 0 ? opt : opt.slice(0, eq)).toUpperCase();
      const val = eq < 0 ? undefined : opt.slice(eq + 1);
      if (key === 'NOTIFY' && val !== undefined) {
        const words = val.toUpperCase().split(',');
        if (notify || words.some((w) => !['NEVER', 'SUCCESS', 'FAILURE', 'DELAY'].includes(w)) || (words.includes('NEVER') && words.length > 1))
          return this.error('501 5.5.4 Error: Bad NOTIFY parameter syntax');
        notify = words as DsnNotify[];
      } else if (key === 'ORCPT' && val !== undefined) {
        const d = decodeXtext(val);
        if (orcpt || d === undefined || !/^[^;\s]+;./.test(d)) return this.error('501 5.5.4 Error: Bad ORCPT parameter syntax');
        orcpt = d;
      } else {
        return this.error(`555 5.5.4 Unsupported option: ${opt}`);
      }
    }
    if (!s.smtputf8 && this.unicodeRefused(p.address)) return this.error(MUST_DECLARE_SMTPUTF8);
    s.rcptAttempts++;
    this.out.recipient = p.address;
    const err = await this.check.rcpt(p.address);
    if (err) return this.error(err);
    if (this.milters && (await this.milterRefusal(await this.milters.rcpt(p.address, p.params))) === false) return false;
    s.recipients.push({ address: p.address, notify, orcpt });
    this.reply('250 2.1.5 Ok');
    return true;
  }

  private async rset(args: string): Promise<boolean> {
    if (args) return this.error('501 5.5.4 Syntax: RSET');
    this.endBdat();
    this.milters?.abort();
    resetTransaction(this.state);
    this.reply('250 2.0.0 Ok');
    return true;
  }

  /** ETRN (RFC 1985) as smtpd.c's etrn_cmd: the flush service delivers the site's deferred mail. */
  private async etrn(args: string): Promise<boolean> {
    const words = args.trim().split(/\s+/).filter(Boolean);
    if (words.length !== 1) return this.error('500 5.5.2 Syntax: ETRN domain');
    if (this.state.sender !== undefined) return this.error('503 5.5.1 Error: MAIL transaction in progress');
    // a leading @ or # (RFC 1985 forms) is skipped, as Postfix does
    const site = /^[A-Za-z0-9[]/.test(words[0]!) ? words[0]! : words[0]!.slice(1);
    if (!isFlushSite(site)) return this.error('501 5.5.4 Error: invalid parameter syntax');
    const status = await this.shared.flush.sendSite(site);
    const reply = etrnReply(status, site);
    this.reply(reply);
    return reply.startsWith('250');
  }

  /** strict_smtputf8: a non-ASCII address needs SMTPUTF8 (Postfix: historically 8-bit local parts are accepted otherwise). */
  private unicodeRefused(address: string): boolean {
    return address !== '' && /[^\x00-\x7f]/.test(address) && this.c.bool('strict_smtputf8');
  }

  private async vrfy(args: string): Promise<boolean> {
    if (this.c.bool('disable_vrfy_command')) return this.error('502 5.5.1 VRFY command is disabled');
    const parts = args.split(/\s+/).filter(Boolean);
    if (parts.length < 1 || parts.length > 2 || (parts[1] && parts[1].toUpperCase() !== 'SMTPUTF8'))
      return this.error('501 5.5.4 Syntax: VRFY address [SMTPUTF8]');
    const addr = parts[0]!.replace(/^<(.*)>$/, '$1');
    if (!parts[1] && this.unicodeRefused(addr)) return this.error(MUST_DECLARE_SMTPUTF8);
    const err = await this.check.rcptmap(addr);
    if (err) return this.error(err);
    this.reply(`252 2.0.0 ${parts[0]}`);
    return true;
  }

  // ---- DATA ------------------------------------------------------------------------------

  private async data(args: string): Promise<boolean | 'pending'> {
    const s = this.state;
    if (this.bdatTx) return this.error('503 5.5.1 Error: DATA after BDAT');
    if (s.recipients.length === 0) {
      if (s.sender === undefined) return this.error('503 5.5.1 Error: need RCPT command');
      return this.error('554 5.5.1 Error: no valid recipients');
    }
    if (args) return this.error('501 5.5.4 Syntax: DATA');
    const err = await this.check.data();
    if (err) return this.error(err);
    if (this.milters && (await this.milterRefusal(await this.milters.data())) === false) return false;
    const parser = this.conn.stream;
    if (!parser) return false;
    const stream = parser.startDataMode(0);
    this.conn._dataStream = stream;
    this.inData = true;
    this.dataBytes = 0;
    this.abortData = false;
    this.reply('354 End data with <CR><LF>.<CR><LF>');
    // The command is done as far as the parser is concerned: it now feeds the data stream.
    void this.receive(stream).then(
      (ok) => {
        this.inData = false;
        resetTransaction(s);
        this.conn._dataStream = false;
        if (this.conn._closed) return;
        s.where = 'END-OF-MESSAGE';
        this.finishCommand('data', ok);
        parser.continue();
      },
      (e: Error) => {
        this.inData = false;
        this.log.error(`DATA: ${e.message}`);
        this.hangup();
      },
    );
    return 'pending';
  }

  /** Streams the message into cleanup; replies once it is queued (or refused). */
  private async receive(stream: NodeJS.ReadableStream, bdat?: BdatTransaction): Promise<boolean> {
    const s = this.state;
    const c = this.c;
    const limit = c.size('message_size_limit');
    const pump = new DataPump(stream, limit, (n) => (this.dataBytes = n));
    const arrival = new Date();
    let queueIdSeen: (id: string) => void = () => undefined;
    const queueId = new Promise<string>((resolve) => (queueIdSeen = resolve));
    const forwarded = forwardedClient(s, c.bool('smtpd_client_port_logging'));
    const onQueueId = (id: string) => {
      if (s.queueId) return;
      s.queueId = id;
      let line = `${id}: client=${s.namaddr}`;
      if (s.saslMethod) line += `, sasl_method=${s.saslMethod}`;
      if (s.saslUsername) line += `, sasl_username=${s.saslUsername}`;
      if (s.senderSaslAuth) line += `, sasl_sender=${s.senderSaslAuth}`;
      if (s.xforward?.ident) line += `, orig_queue_id=${s.xforward.ident}`;
      if (forwarded) line += `, orig_client=${forwarded.log}`;
      this.log.info(line);
      queueIdSeen(id);
    };
    let eodReply: string | undefined;
    const self = this;
    async function* content(): AsyncGenerator<Buffer> {
      const id = await queueId;
      const head = [...s.prepend, ...receivedHeader(s, {
        myhostname: self.myhostname,
        mailName: c.get('mail_name') || 'Postern',
        portLogging: c.bool('smtpd_client_port_logging'),
        tlsHeader: c.bool('smtpd_tls_received_header'),
        saslHeader: c.bool('smtpd_sasl_authenticated_header'),
        queueId: id,
        date: arrival,
      })];
      yield Buffer.from(`${head.join('\n')}\n`, 'utf8');
      yield* pump.lines();
      if (self.abortData) throw new Error('bare newline');
      self.check.messageSize = pump.bytes;
      eodReply = await self.check.endOfData();
      if (eodReply) throw new Error('end-of-data restriction');
    }
    if (s.discard) {
      await pump.drain();
      if (pump.failed) return this.lost();
      if (this.lmtp) this.lmtpReplies = s.recipients.length;
      this.reply('250 2.0.0 Ok: discarded');
      return true;
    }
    // the queue ID is made here, so the content (its Received: header names the ID) goes out at once
    const proposedId = newQueueId();
    const request: CleanupRequest = {
      queueId: proposedId,
      sender: s.sender ?? '',
      recipients: s.recipients.map((r) => ({ address: r.address, notify: r.notify, orcpt: r.orcpt })),
      dsnRet: s.dsnRet,
      dsnEnvid: s.dsnEnvid,
      // the log attributes: the original client's when a content filter forwarded them
      client: forwarded ?? {
        name: s.name,
        address: s.address,
        port: s.port,
        helo: s.helo,
        protocol: protocolName(s),
        log: s.namaddr,
      },
      sasl: s.saslUsername ? { method: s.saslMethod, username: s.saslUsername, sender: s.senderSaslAuth } : undefined,
      origin: 'smtpd',
      bodyType: s.bodyType,
      smtputf8: s.smtputf8 || undefined,
      flags: s.hold || this.shared.transp.size > 0 ? { ...transpCleanupFlags(this.shared.transp), ...(s.hold && { hold: true }) } : undefined,
      filter: s.filter ?? this.c.get('content_filter'),
      redirect: s.redirect,
    };
    let result: Awaited<ReturnType<CleanupService['submit']>> | undefined;
    let failure: Error | undefined;
    let milterReply: string | undefined;
    onQueueId(proposedId);
    try {
      if (this.milters) {
        // the milters see (and may edit) the whole message before cleanup gets it
        const staged = await this.milters.message(request, content());
        milterReply = staged.reply;
        if (staged.discard) result = { status: 'discarded', queueId: proposedId, code: 250, dsn: '2.0.0', text: 'Ok' };
        else if (!milterReply) result = await this.shared.cleanup.submit(staged.request, once(staged.content), onQueueId);
      } else {
        result = await this.shared.cleanup.submit(request, content(), onQueueId);
      }
    } catch (err) {
      failure = err as Error;
    }
    // Whatever happened, read the client's message to its end before replying.
    await pump.drain();
    if (this.lmtp) this.lmtpReplies = s.recipients.length;
    if (pump.failed || this.abortData) return this.abortData ? false : this.lost();
    if (pump.tooBig) {
      this.check.logAction('reject', REPLY_MESSAGE_TOO_BIG, { stage: 'end-of-data' });
      return this.error(REPLY_MESSAGE_TOO_BIG);
    }
    if (eodReply) return this.error(eodReply);
    if (milterReply) return this.milterRefusal({ reply: milterReply, close: milterReply.startsWith('421') }) as Promise<false>;
    if (failure || !result) {
      this.log.warn(`${s.queueId ?? 'NOQUEUE'}: queue file write error: ${failure?.message ?? 'no result'}`);
      return this.error('451 4.3.0 Error: queue file write error');
    }
    switch (result.status) {
      case 'queued':
      case 'discarded':
        this.reply(bdat ? `250 2.0.0 Ok: ${bdat.bytes} bytes queued as ${result.queueId}` : `250 2.0.0 Ok: queued as ${result.queueId}`);
        return true;
      default: {
        const reply = `${result.code} ${result.dsn} ${result.text}`;
        this.check.logAction('reject', reply, { stage: 'end-of-data' });
        return this.error(reply);
      }
    }
  }

  // ---- BDAT (smtpd-bdat.ts) -------------------------------------------------------------------

  private bdatTx: BdatTransaction | undefined;
  /** An earlier chunk of this transaction failed: drop chunks until LAST or RSET. */
  private bdatFailed = false;

  private endBdat(): void {
    this.bdatTx?.abort();
    this.bdatTx = undefined;
    this.bdatFailed = false;
  }

  private async bdat(args: string): Promise<boolean> {
    const s = this.state;
    const parser = this.conn.stream;
    if (!parser) return false;
    const discard = new Set(this.c.list('smtpd_discard_ehlo_keywords').map((k) => k.toLowerCase()));
    const cmd = parseBdat(args);
    if (discard.has('chunking') || !cmd) {
      if (!cmd) this.log.warn(`${s.queueId ?? 'NOQUEUE'}: malformed BDAT command syntax from ${s.namaddr}: BDAT ${args.slice(0, 100)}`);
      this.reply(discard.has('chunking') ? REPLY_BDAT_DISABLED : REPLY_BDAT_SYNTAX);
      this.quitting = true;
      this.hangup();
      return false;
    }
    const { size, last } = cmd;
    if (size === 0 && !last) {
      this.log.warn(`${s.queueId ?? 'NOQUEUE'}: null BDAT request from ${s.namaddr}`);
      return this.skipChunk(parser, size, last, REPLY_BDAT_NULL);
    }
    if (this.bdatFailed) return this.skipChunk(parser, size, last, replyDiscarded(size));
    if (!this.bdatTx) {
      if (s.recipients.length === 0) {
        return this.skipChunk(parser, size, last, s.sender === undefined ? '503 5.5.1 Error: need RCPT command' : '554 5.5.1 Error: no valid recipients');
      }
      const err = await this.check.data();
      if (err) return this.skipChunk(parser, size, last, err);
      const mv = this.milters ? await this.milters.data() : undefined;
      if (mv?.reply) {
        await this.skipChunk(parser, size, last, mv.reply);
        if (mv.close) {
          this.quitting = true;
          this.hangup();
        }
        return false;
      }
    }
    const limit = this.c.size('message_size_limit');
    if (limit > 0 && (this.bdatTx?.bytes ?? 0) + size > limit) {
      this.log.warn(`${s.queueId ?? 'NOQUEUE'}: BDAT request from ${s.namaddr} exceeds message size limit`);
      this.bdatTx?.abort();
      return this.skipChunk(parser, size, last, REPLY_CHUNK_TOO_BIG);
    }
    let tx = this.bdatTx;
    if (!tx) {
      tx = this.bdatTx = new BdatTransaction();
      tx.result = this.receive(tx.content, tx);
    }
    s.where = 'BDAT';
    try {
      await parser.readChunk(size, tx.content);
    } catch {
      return false;
    }
    tx.bytes += size;
    if (!last) {
      this.reply(`250 2.0.0 Ok: ${size} bytes`);
      return true;
    }
    tx.content.end();
    const ok = await tx.result;
    this.bdatTx = undefined;
    this.bdatFailed = false;
    resetTransaction(s);
    s.where = 'END-OF-MESSAGE';
    return ok;
  }

  /** skip_bdat(): read the chunk and drop it, then answer; LAST ends the transaction, otherwise later chunks are dropped too. */
  private async skipChunk(parser: NonNullable<PosternConnection['stream']>, size: number, last: boolean, reply: string): Promise<false> {
    try {
      await parser.readChunk(size);
    } catch {
      return false;
    }
    if (last) {
      this.endBdat();
      resetTransaction(this.state);
    } else {
      this.bdatTx?.abort();
      this.bdatFailed = true;
    }
    return this.error(reply);
  }

  private lost(): false {
    return false;
  }

  // ---- client name -------------------------------------------------------------------------

  /**
   * smtpd_peername_lookup (smtpd_peer.c): the reverse name (reverse_client_name)
   * and the name that maps forward to the address (client_name), else
   * "unknown"; a DNS failure other than "no such name" is temporary.
   */
  private async peerName(s: SmtpdState): Promise<void> {
    s.name = s.reverseName = 'unknown';
    if (!this.c.bool('smtpd_peername_lookup')) return;
    const temporary = (err: unknown) => !['ENOTFOUND', 'ENODATA'].includes((err as NodeJS.ErrnoException).code ?? '');
    let names: string[];
    try {
      names = (await reverse(s.address)).filter((n) => /^[a-z0-9_]([a-z0-9_.-]*[a-z0-9_])?\.?$/i.test(n));
    } catch (err) {
      s.nameTempfail = s.reverseTempfail = temporary(err);
      return;
    }
    if (names.length === 0) return;
    s.reverseName = names[0]!.toLowerCase().replace(/\.$/, '');
    for (const n of names) {
      try {
        const addrs = await lookup(n, { all: true });
        if (addrs.some((a) => normalizeAddress(a.address) === s.address)) {
          s.name = n.toLowerCase().replace(/\.$/, '');
          return;
        }
      } catch (err) {
        s.nameTempfail ||= temporary(err);
      }
    }
  }
}

async function* once(content: Buffer): AsyncGenerator<Buffer> {
  yield content;
}

function protocolName(s: SmtpdState): string {
  let p: string = s.protocol;
  if (s.encrypted) p += 'S';
  if (s.saslUsername) p += 'A';
  return p;
}

function cipherBits(name: string): number {
  if (/CHACHA20|256/i.test(name)) return 256;
  if (/128/.test(name)) return 128;
  return 0;
}

/** xtext (RFC 3461) decoding; undefined when malformed. */
export function decodeXtext(v: string): string | undefined {
  if (/[^\x21-\x7e]|=/.test(v)) return undefined;
  let bad = false;
  const out = v.replace(/\+([0-9A-F]{2})|\+/g, (m, hex: string | undefined) => {
    if (!hex) {
      bad = true;
      return m;
    }
    return String.fromCharCode(parseInt(hex, 16));
  });
  return bad ? undefined : out;
}

/**
 * "FROM:<addr> PARAMS" (extract_addr): "syntax" when the keyword is wrong,
 * "bad" when the address is malformed.
 */
export function parsePath(args: string, keyword: 'FROM' | 'TO', strict = false): { address: string; params: string[] } | 'syntax' | 'bad' {
  const m = new RegExp(`^${keyword}:\\s*(.*)$`, 'is').exec(args);
  if (!m) return 'syntax';
  const rest = m[1]!;
  let addr: string;
  let tail: string;
  if (rest.startsWith('<')) {
    let i = 1;
    let quoted = false;
    for (; i < rest.length; i++) {
      const ch = rest[i];
      if (ch === '\\' && quoted) i++;
      else if (ch === '"') quoted = !quoted;
      else if (ch === '>' && !quoted) break;
    }
    if (i >= rest.length) return 'bad';
    addr = rest.slice(1, i);
    tail = rest.slice(i + 1);
    if (tail && !/^\s/.test(tail)) return 'bad';
  } else {
    // strict_rfc821_envelopes: RFC 821 wants the <> around the address
    if (strict) return 'bad';
    const sp = rest.search(/\s/);
    addr = sp < 0 ? rest : rest.slice(0, sp);
    tail = sp < 0 ? '' : rest.slice(sp);
    if (addr === '') return 'syntax';
  }
  // Source route: "@a,@b:user@domain".
  addr = addr.replace(/^@[^:]+:/, '');
  if (/[\x00-\x1f\x7f<>]/.test(addr) || /\s/.test(addr.replace(/"[^"]*"/g, ''))) return 'bad';
  if (addr.startsWith('"')) {
    const q = /^"((?:[^"\\]|\\.)*)"(@.*)?$/.exec(addr);
    if (!q) return 'bad';
    addr = q[1]!.replace(/\\(.)/g, '$1') + (q[2] ?? '');
  }
  if (addr.endsWith('@') || addr.startsWith('@') || addr.includes('@@')) return 'bad';
  return { address: addr, params: tail.split(/\s+/).filter(Boolean) };
}
