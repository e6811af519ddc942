/**
 * One client connection to postscreen (postscreen.c psc_endpt_lookup_done,
 * postscreen_early.c, postscreen_misc.c psc_conclude): the connection limit,
 * the permanent access list, the temporary allowlist, the tests before the
 * SMTP greeting (pregreet, DNSBL), the deep protocol tests in the dummy SMTP
 * engine (postscreen-smtpd.ts), and the conclusion: log PASS NEW/OLD, update
 * the cache, then hand the connection to smtpd, or reply and disconnect.
 */
import type { Socket } from 'node:net';
import { escapeText, type Logger, type LookupTable, type MatchList } from '@postern/core';
import type { AccessList, AddressList } from './postscreen-access.js';
import type { PostscreenCache } from './postscreen-cache.js';
import type { DnsblScore, DnsblScorer } from './postscreen-dnsbl.js';
import { ReplyOut, type PostscreenFooter } from './postscreen-send.js';
import { DummySmtpd } from './postscreen-smtpd.js';
import {
  allTodoPassed,
  anyFail,
  anyPass,
  anyTodo,
  DEEP,
  EARLY,
  newExpireTimes,
  printStamps,
  TESTS,
  todoTests,
  type ExpireTimes,
  type SessionTests,
  type TestName,
} from './postscreen-tests.js';

export type Action = 'ignore' | 'enforce' | 'drop';

/** What postscreen knows about a client address in this process (PSC_CLIENT_INFO). */
export interface ClientInfo {
  concurrency: number;
  expire: ExpireTimes;
  passNewCount: number;
}

export interface PostscreenSettings {
  readonly myhostname: string;
  readonly smtpdBanner: string;
  /** "" disables the pregreet test. */
  readonly greetBanner: string;
  readonly greetWaitMs: number;
  readonly greetTtl: number;
  readonly greetAction: Action;
  readonly dnsblThreshold: number;
  readonly dnsblAllowlistThreshold: number;
  readonly dnsblAction: Action;
  readonly denylistAction: Action;
  readonly enabled: Readonly<Record<TestName, boolean>>;
  readonly actions: Readonly<Record<'pipel' | 'nsmtp' | 'barlf', Action>>;
  readonly ttls: Readonly<Record<'pipel' | 'nsmtp' | 'barlf', number>>;
  /** psc_min_ttl: the smallest TTL of any test. */
  readonly minTtl: number;
  readonly connectionLimit: number;
  readonly preQueueLimit: number;
  readonly postQueueLimit: number;
  readonly commandCountLimit: number;
  readonly commandTimeMs: number;
  readonly lineLimit: number;
  readonly messageSizeLimit: number;
  readonly heloRequired: boolean;
  readonly disableVrfy: boolean;
  /** postscreen_forbidden_commands. */
  readonly forbiddenCommands: MatchList;
  readonly discardEhlo: readonly string[];
  readonly tlsLevel: 'none' | 'may' | 'encrypt';
  /** smtputf8_enable: a command line that is not UTF-8 skips postscreen_command_filter. */
  readonly smtputf8: boolean;
}

/** A TLS engine for the dummy engine's STARTTLS (tlsproxy(8)). */
export interface PostscreenTls {
  /** Answers "220 2.0.0 Ready to start TLS", wraps the client socket in TLS (server side); resolves with the plaintext stream. */
  start(socket: Socket, client: { address: string; port: number }): Promise<Socket>;
}

export interface PostscreenShared {
  readonly log: Logger;
  readonly settings: PostscreenSettings;
  readonly cache: PostscreenCache;
  readonly access?: AccessList;
  readonly allowlistInterfaces: AddressList;
  readonly scorer: DnsblScorer;
  readonly clients: Map<string, ClientInfo>;
  readonly tls?: PostscreenTls;
  /** postscreen_reject_footer(_maps); undefined: none configured. */
  readonly footer?: PostscreenFooter;
  /** postscreen_command_filter; undefined: none. */
  readonly commandFilter?: LookupTable;
  /** Sessions being screened (for postscreen_pre_queue_limit). */
  screening: number;
  /** Connections handed to smtpd and still open (for postscreen_post_queue_limit). */
  served: number;
  /** Hands an accepted connection to smtpd; false when it cannot. */
  handoff(socket: Socket): boolean;
  readonly now: () => number;
}

/** format_tv with two significant digits, as psc_format_delta_time logs elapsed times ("0.25", "6.1", "12"). */
export function formatDelta(ms: number): string {
  const s = Math.max(ms, 0) / 1000;
  if (s >= 10) return String(Math.round(s));
  if (s < 0.01) return '0';
  return String(Number(s.toPrecision(2)));
}

const DNSBL_REPLY = (code: string, addr: string, name: string) => `${code} 5.7.1 Service unavailable; client [${addr}] blocked using ${name}`;

export class PostscreenSession {
  readonly address: string;
  readonly port: string;
  readonly where: { at: string } = { at: 'CONNECT' };
  tests: SessionTests;
  isNew = false;
  noForward = false;
  hangup = false;
  finalReply = '421 4.3.2 Service currently unavailable';
  rcptReply = '450 4.3.2 Service currently unavailable';
  testName = 'tests before SMTP handshake';
  startedAt: number;
  /** Input received and not yet consumed (postscreen reads with MSG_PEEK before the greeting). */
  input: Buffer = Buffer.alloc(0);
  private client!: ClientInfo;
  private dnsbl: { retrieve(): DnsblScore; settled: Promise<void> } | undefined;
  private dnsblScore: DnsblScore | undefined;
  private concluded = false;
  private onInput: (() => void) | undefined;
  private onEnd: (() => void) | undefined;
  private ended = false;
  /** Every reply goes out here (the reject footer, in order behind a footer table lookup). */
  readonly out: ReplyOut;

  constructor(
    readonly shared: PostscreenShared,
    public socket: Socket,
  ) {
    this.address = (socket.remoteAddress ?? '').replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/i, '$1');
    this.port = String(socket.remotePort ?? 0);
    this.tests = todoTests(newExpireTimes(), shared.settings.enabled, 1).tests;
    this.startedAt = shared.now();
    this.out = new ReplyOut(shared.footer, this, (text) => {
      if (!this.socket.destroyed && this.socket.writable) this.socket.write(`${text}\r\n`);
    });
    this.attach(socket);
  }

  get log(): Logger {
    return this.shared.log;
  }
  get addrPort(): string {
    return `[${this.address}]:${this.port}`;
  }
  get expire(): ExpireTimes {
    return this.client.expire;
  }
  nowSeconds(): number {
    return Math.floor(this.shared.now() / 1000);
  }

  /** Reads from `socket` into `input` (also after STARTTLS, on the TLS stream). */
  attach(socket: Socket): void {
    this.socket = socket;
    socket.on('data', (d: Buffer) => {
      // the verdict is in: what the client sends now is discarded, not kept
      if (this.concluded) return;
      this.input = this.input.length ? Buffer.concat([this.input, d]) : d;
      if (this.onInput) this.onInput();
      // nobody reads in this phase (the greet wait after a pregreet): the kernel holds the rest
      else if (this.input.length > this.inputLimit) socket.pause();
    });
    socket.resume();
    socket.on('end', () => this.end());
    socket.on('close', () => this.end());
    socket.on('error', () => this.end());
  }
  private end(): void {
    if (this.ended) return;
    this.ended = true;
    this.onEnd?.();
    this.release();
  }

  private readonly releases: (() => void)[] = [];
  /** Runs `f` once the session is over: closed here, or handed to smtpd (whose socket closes elsewhere). */
  onRelease(f: () => void): void {
    this.releases.push(f);
  }
  private release(): void {
    for (const f of this.releases.splice(0)) f();
  }
  get closed(): boolean {
    return this.ended;
  }
  /** psc_conclude has run: the verdict is in, nothing more is read. */
  get isConcluded(): boolean {
    return this.concluded;
  }
  /** The current phase's input and end-of-input handlers. */
  listen(onInput: (() => void) | undefined, onEnd: (() => void) | undefined): void {
    this.onInput = onInput;
    this.onEnd = onEnd;
    if (onInput && !this.concluded && this.socket.isPaused()) this.socket.resume();
  }

  /** Input held while no phase reads it; beyond this the socket pauses. */
  private get inputLimit(): number {
    return Math.max(this.shared.settings.lineLimit, 2048) + 65536;
  }

  send(line: string): boolean {
    if (this.ended || this.socket.destroyed) return false;
    this.out.reply(line);
    return true;
  }

  // ---- connect -------------------------------------------------------------------------

  async start(): Promise<void> {
    const sh = this.shared;
    const st = sh.settings;
    this.log.info(`CONNECT from ${this.addrPort} to [${(this.socket.localAddress ?? '').replace(/^::ffff:/, '')}]:${this.socket.localPort}`);
    let info = sh.clients.get(this.address);
    if (!info) sh.clients.set(this.address, (info = { concurrency: 0, expire: newExpireTimes(), passNewCount: 0 }));
    this.client = info;
    info.concurrency++;
    this.onRelease(() => {
      if (--info.concurrency <= 0 && info.passNewCount === 0) sh.clients.delete(this.address);
    });

    if (st.connectionLimit > 0 && info.concurrency > st.connectionLimit) {
      this.log.info(`NOQUEUE: reject: CONNECT from ${this.addrPort}: too many connections`);
      return this.drop('421 4.7.0 Error: too many connections');
    }

    if (st.postQueueLimit > 0 && sh.served >= st.postQueueLimit) {
      this.log.info(`NOQUEUE: reject: CONNECT from ${this.addrPort}: all server ports busy`);
      return this.drop('421 4.3.2 All server ports are busy');
    }

    const acl = sh.access ? await sh.access.evaluate(this.address) : 'dunno';
    if (acl === 'reject') {
      this.log.info(`DENYLISTED ${this.addrPort}`);
      this.otherFail = true;
      switch (st.denylistAction) {
        case 'drop':
          return this.drop('521 5.3.2 Service currently unavailable');
        case 'enforce':
          this.enforce('550 5.3.2 Service currently unavailable');
          break;
        case 'ignore':
          this.otherFail = false;
          break;
      }
    } else if (acl === 'permit') {
      this.log.info(`ALLOWLISTED ${this.addrPort}`);
      return this.conclude();
    }

    const now = this.nowSeconds();
    if (!this.otherFail && info.concurrency === 1) {
      const cached = await sh.cache.lookup(this.address);
      if (cached) {
        info.expire = cached;
        const t = todoTests(cached, st.enabled, now);
        this.tests = t.tests;
        this.isNew = t.isNew;
        if (!anyTodo(this.tests)) {
          this.log.info(`PASS OLD ${this.addrPort}`);
          return this.conclude();
        }
      } else {
        info.expire = newExpireTimes();
        const t = todoTests(info.expire, st.enabled, 1);
        this.tests = t.tests;
        this.isNew = true;
      }
    } else {
      const t = todoTests(info.expire, st.enabled, now);
      this.tests = t.tests;
      this.isNew = t.isNew;
    }

    if (!(await sh.allowlistInterfaces.match((this.socket.localAddress ?? '').replace(/^::ffff:/, '')))) {
      this.otherFail = true;
      this.noForward = true;
      this.log.info(`ALLOWLIST VETO ${this.addrPort}`);
    }

    if (st.preQueueLimit > 0 && sh.screening >= st.preQueueLimit) {
      this.log.info(`reject: connect from ${this.addrPort}: all screening ports busy`);
      return this.drop('421 4.3.2 All screening ports are busy');
    }
    sh.screening++;
    this.onRelease(() => sh.screening--);

    if (anyTodo(this.tests, EARLY)) return this.earlyTests();
    if (anyTodo(this.tests, DEEP) || this.noForward) return new DummySmtpd(this).start();
    return this.conclude();
  }

  /** Failed the access list (denylisted) or the allowlist interfaces (PSC_STATE_FLAG_DNLIST_FAIL, _ALLIST_FAIL). */
  otherFail = false;

  /** Some test failed (PSC_STATE_MASK_ANY_FAIL). */
  failed(): boolean {
    return this.otherFail || anyFail(this.tests);
  }

  // ---- tests before the SMTP handshake ---------------------------------------------------

  private earlyTests(): void {
    const st = this.shared.settings;
    this.testName = 'tests before SMTP handshake';
    this.startedAt = this.shared.now();
    const pregr = this.tests.pregr.todo && st.greetBanner !== '';
    if (pregr && !this.send(`220-${st.greetBanner}`)) return this.hangupEvent();
    if (this.tests.dnsbl.todo) {
      this.dnsbl = this.shared.scorer.request(this.address);
      void this.dnsbl.settled.then(() => {
        if (this.concluded || this.earlyOver) return;
        this.collectDnsbl();
        this.tests.dnsbl.done = true;
        if (this.earlyDone()) this.earlyTime();
      });
    }
    const timer = setTimeout(() => this.earlyTime(), st.greetWaitMs);
    this.earlyTimer = timer;
    this.listen(
      pregr ? () => this.pregreet() : undefined,
      () => {
        if (this.earlyOver) return;
        this.earlyOver = true;
        clearTimeout(timer);
        this.hangupEvent();
      },
    );
    if (pregr && this.input.length) this.pregreet();
  }

  private earlyTimer: NodeJS.Timeout | undefined;
  private earlyOver = false;

  private earlyDone(): boolean {
    return EARLY.every((t) => !this.tests[t].todo || this.tests[t].done);
  }

  /** The client spoke before its turn. */
  private pregreet(): void {
    if (this.earlyOver || this.tests.pregr.done) return;
    const st = this.shared.settings;
    const elapsed = this.shared.now() - this.startedAt;
    this.log.info(`PREGREET ${this.input.length} after ${formatDelta(elapsed)} from ${this.addrPort}: ${escapeText(this.input)}`);
    this.tests.pregr.fail = true;
    this.tests.pregr.done = true;
    switch (st.greetAction) {
      case 'drop':
        this.earlyOver = true;
        clearTimeout(this.earlyTimer);
        this.listen(undefined, undefined);
        return this.drop('521 5.5.1 Protocol error');
      case 'enforce':
        this.enforce('550 5.5.1 Protocol error');
        break;
      case 'ignore':
        break;
    }
    // stop watching input until the dummy engine reads it
    this.listen(undefined, this.onEnd);
    if (elapsed >= st.greetWaitMs || this.earlyDone()) this.earlyTime();
  }

  private collectDnsbl(): void {
    if (this.dnsblScore || !this.dnsbl) return;
    this.dnsblScore = this.dnsbl.retrieve();
    if (this.shared.settings.dnsblAllowlistThreshold < 0) this.allowlistNonDnsbl();
  }

  /** psc_allowlist_non_dnsbl: a low enough (negative) score passes the other tests for the DNSBL TTL. */
  private allowlistNonDnsbl(): void {
    const st = this.shared.settings;
    const score = this.dnsblScore!;
    if (this.failed() || score.score >= st.dnsblThreshold || score.score > st.dnsblAllowlistThreshold) return;
    const until = this.nowSeconds() + score.ttl;
    for (const t of TESTS) {
      if (t === 'dnsbl') continue;
      if (this.tests[t].todo && !this.tests[t].pass) {
        this.tests[t].done = true;
        this.tests[t].pass = true;
      }
      if (this.expire[t] < until) this.expire[t] = until;
    }
  }

  /** The greet wait is over, or every early test is done (psc_early_event EVENT_TIME). */
  private earlyTime(): void {
    if (this.earlyOver) return;
    this.earlyOver = true;
    clearTimeout(this.earlyTimer);
    const st = this.shared.settings;
    const t = this.tests;
    if (t.pregr.todo && !t.pregr.fail && !t.pregr.done) {
      this.expire.pregr = this.nowSeconds() + st.greetTtl;
      t.pregr.pass = true;
    }
    if (t.pregr.fail && st.greetAction === 'ignore') t.pregr.fail = false;
    if (t.dnsbl.todo) {
      this.collectDnsbl();
      const score = this.dnsblScore!;
      if (score.score < st.dnsblThreshold) {
        this.expire.dnsbl = this.nowSeconds() + score.ttl;
        t.dnsbl.pass = true;
      } else {
        this.log.info(`DNSBL rank ${score.score} for ${this.addrPort}`);
        t.dnsbl.fail = true;
        switch (st.dnsblAction) {
          case 'drop':
            return this.drop(DNSBL_REPLY('521', this.address, score.name));
          case 'enforce':
            this.enforce(DNSBL_REPLY('550', this.address, score.name));
            break;
          case 'ignore':
            t.dnsbl.fail = false;
            break;
        }
      }
    }
    if (this.noForward || !allTodoPassed(this.tests, DEEP)) return void new DummySmtpd(this).start();
    this.conclude();
  }

  // ---- outcomes ------------------------------------------------------------------------------

  /** PSC_ENFORCE_SESSION_STATE: the dummy engine rejects every RCPT with `reply`. */
  enforce(reply: string): void {
    this.rcptReply = reply;
    this.noForward = true;
  }

  /** PSC_DROP_SESSION_STATE: reply and hang up. */
  drop(reply: string): void {
    this.noForward = true;
    this.finalReply = reply;
    this.conclude();
  }

  hangupEvent(): void {
    this.hangup = true;
    this.log.info(`HANGUP after ${formatDelta(this.shared.now() - this.startedAt)} from ${this.addrPort} in ${this.testName}`);
    this.noForward = true;
    this.conclude();
  }

  /** psc_conclude. */
  conclude(): void {
    if (this.concluded) return;
    this.concluded = true;
    clearTimeout(this.earlyTimer);
    this.listen(undefined, undefined);
    const t = this.tests;
    if (this.failed()) for (const x of TESTS) t[x].pass = false;
    if (anyPass(t) && allTodoPassed(t)) {
      this.log.info(`PASS ${!this.isNew || this.client.passNewCount++ > 0 ? 'OLD' : 'NEW'} ${this.addrPort}`);
    }
    if (anyPass(t)) void this.shared.cache.update(this.address, printStamps(this.expire, this.shared.settings.enabled));
    if (!this.noForward && !this.ended) {
      this.socket.removeAllListeners('data');
      this.socket.pause();
      // the hand-off follows the replies still waiting for a footer lookup
      return this.out.after(() => this.handoff());
    }
    this.disconnect();
  }

  /** Hands the connection to smtpd (psc_send_socket), or replies 421 when that fails. */
  private handoff(): void {
    const sh = this.shared;
    if (this.ended) return this.disconnect();
    const done = (): void => void sh.served--;
    sh.served++;
    this.socket.once('close', done);
    if (sh.handoff(this.socket)) {
      this.ended = true;
      this.release();
      return;
    }
    sh.served--;
    this.socket.off('close', done);
    this.log.warn(`cannot pass connection from ${this.addrPort} to the smtpd service`);
    this.finalReply = '421 4.3.2 All server ports are busy';
    this.disconnect();
  }

  /** The final reply (unless the client hung up), then the end of the connection once the replies are out. */
  private disconnect(): void {
    if (!this.hangup) this.send(this.finalReply);
    this.log.info(`DISCONNECT ${this.addrPort}`);
    this.out.after(() => {
      this.socket.end();
      setTimeout(() => this.socket.destroy(), 1000).unref();
    });
  }
}
