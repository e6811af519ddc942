/**
 * postscreen's dummy SMTP engine (postscreen_smtpd.c): after the full "220"
 * greeting it speaks enough SMTP to run the deep protocol tests (command
 * pipelining, non-SMTP commands, bare newlines), rejects every recipient
 * with 450 4.3.2 (or the reply of a failed test's enforce action) and, at
 * the end, lets the session conclude: a client that passed must come back,
 * and its next connection is handed to smtpd (PASS OLD). Each command line
 * may first be replaced by postscreen_command_filter.
 */
import { isUtf8 } from 'node:buffer';
import { escapeText, filterCommand, type LookupTable } from '@postern/core';
import { DEEP, type TestName } from './postscreen-tests.js';
import type { Action, PostscreenSession } from './postscreen-session.js';

type Reply = 'sent' | 'destroyed';

const PRE_TLS = new Set(['HELO', 'EHLO', 'STARTTLS', 'NOOP', 'QUIT']);
/** Commands in the table but not enabled: 502 5.5.2 (psc's PSC_SMTPD_CMD_FLAG_NONE). */
const DISABLED = new Set(['XCLIENT', 'XFORWARD', 'AUTH']);
const KNOWN = new Set(['HELO', 'EHLO', 'STARTTLS', 'XCLIENT', 'XFORWARD', 'AUTH', 'MAIL', 'RCPT', 'DATA', 'BDAT', 'RSET', 'NOOP', 'VRFY', 'ETRN', 'QUIT']);

/** An "address" of MAIL FROM:/RCPT TO: (psc_extract_addr, loosely: <...> or a bare word). */
function extractAddr(text: string): string | undefined {
  const t = text.trim();
  const m = /^<([^<>]*)>/.exec(t);
  if (m) return m[1]!;
  if (/^[^\s<>]+/.test(t)) return /^[^\s<>]+/.exec(t)![0];
  return undefined;
}

export class DummySmtpd {
  private helo: string | undefined;
  private sender: string | undefined;
  private protocol = 'SMTP';
  private commands = 0;
  private tls = false;
  private timer: NodeJS.Timeout | undefined;
  /** read() is running (input that arrives meanwhile waits for its loop). */
  private busy = false;

  constructor(private readonly s: PostscreenSession) {}

  private get st() {
    return this.s.shared.settings;
  }

  start(): void {
    const s = this.s;
    s.testName = 'tests after SMTP handshake';
    s.startedAt = s.shared.now();
    // a client that failed an early test gets every deep test
    if (s.failed()) for (const t of DEEP) s.tests[t].todo = true;
    if (!s.tests.pregr.fail && !s.send(`220 ${this.st.smtpdBanner}`)) return s.hangupEvent();
    this.arm();
    s.listen(
      () => this.read(),
      () => {
        clearTimeout(this.timer);
        s.hangupEvent();
      },
    );
    if (s.input.length) this.read();
  }

  private arm(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.s.log.info(`COMMAND TIME LIMIT from ${this.s.addrPort} after ${this.s.where.at}`);
      this.finish(`421 4.4.2 ${this.st.myhostname} Error: timeout exceeded`);
    }, this.st.commandTimeMs);
  }

  /** Ends the session with `reply` (PSC_CLEAR_EVENT_DROP_SESSION_STATE). */
  private finish(reply: string): 'destroyed' {
    clearTimeout(this.timer);
    this.s.drop(reply);
    return 'destroyed';
  }

  private deepFail(test: 'pipel' | 'nsmtp' | 'barlf', what: string, dropReply: string): 'destroyed' | undefined {
    const s = this.s;
    const t = s.tests[test];
    t.fail = true;
    t.pass = false;
    s.expire[test] = 1;
    t.skip = true;
    const action: Action = this.st.actions[test];
    switch (action) {
      case 'drop':
        return this.finish(dropReply);
      case 'enforce':
        s.enforce('550 5.5.1 Protocol error');
        return undefined;
      case 'ignore':
        t.fail = false;
        // allowlisted until something else expires
        t.pass = true;
        s.expire[test] = s.nowSeconds() + this.st.minTtl;
        void what;
        return undefined;
    }
  }

  private active(test: TestName): boolean {
    const t = this.s.tests[test];
    return t.todo && !t.skip;
  }

  private read(): void {
    if (this.busy) return;
    this.busy = true;
    void this.drain();
  }

  /** Reads and runs the complete command lines in the input; awaits only a postscreen_command_filter lookup. */
  private async drain(): Promise<void> {
    const s = this.s;
    try {
      for (;;) {
        const nl = s.input.indexOf(0x0a);
        if (nl < 0) {
          if (s.input.length >= this.st.lineLimit) {
            s.log.info(`COMMAND LENGTH LIMIT from ${s.addrPort} after ${s.where.at}`);
            this.finish(`421 ${this.st.myhostname} Service unavailable - try again later`);
          }
          return;
        }
        const crlf = nl > 0 && s.input[nl - 1] === 0x0d;
        const raw = s.input.subarray(0, crlf ? nl - 1 : nl);
        s.input = s.input.subarray(nl + 1);
        if (raw.length >= this.st.lineLimit) {
          s.log.info(`COMMAND LENGTH LIMIT from ${s.addrPort} after ${s.where.at}`);
          this.finish(`421 ${this.st.myhostname} Service unavailable - try again later`);
          return;
        }
        if (!crlf && this.active('barlf')) {
          s.log.info(`BARE NEWLINE from ${s.addrPort} after ${escapeText(raw)}`);
          if (this.deepFail('barlf', 'bare newline test', '521 5.5.1 Protocol error')) return;
        }
        let line = raw.toString('latin1');
        if (s.shared.commandFilter && (isUtf8(raw) || !this.st.smtputf8)) {
          const filtered = await this.filter(raw);
          // the client left, or the time limit struck, during the lookup
          if (filtered === undefined || s.isConcluded) return;
          line = filtered;
        }
        const forbidden = await this.forbidden(line);
        if (s.isConcluded) return;
        if (this.command(line, forbidden) === 'destroyed') return;
        this.arm();
      }
    } finally {
      this.busy = false;
    }
  }

  /**
   * postscreen_command_filter: the line, leading blanks removed, looked up;
   * a result replaces it (logged "replacing command"). A table that cannot
   * answer ends the session without a reply (Postfix: a fatal error).
   */
  private async filter(raw: Buffer): Promise<string | undefined> {
    const s = this.s;
    const table = s.shared.commandFilter as LookupTable;
    const text = isUtf8(raw) ? raw.toString('utf8') : raw.toString('latin1');
    try {
      const r = await filterCommand(table, text, s.addrPort);
      if (!r.logged) return raw.toString('latin1');
      s.log.info(r.logged);
      // the engine reads bytes as latin1, as it reads the client's own lines
      return Buffer.from(r.line, 'utf8').toString('latin1');
    } catch (err) {
      s.log.warn(`${table.spec} lookup error for "${text.slice(0, 100)}": ${(err as Error).message}`);
      if (!s.isConcluded) {
        s.hangup = true;
        this.finish('');
      }
      return undefined;
    }
  }

  /**
   * Whether the line's command is in postscreen_forbidden_commands (asked
   * only while the non-SMTP test is active and the command is unknown); a
   * table that cannot answer is no match.
   */
  private async forbidden(line: string): Promise<boolean> {
    const word = /^[ \t]*(\S*)/.exec(line)![1]!;
    const list = this.st.forbiddenCommands;
    if (!this.active('nsmtp') || KNOWN.has(word.toUpperCase()) || list.empty) return false;
    try {
      return await list.match(word);
    } catch (err) {
      this.s.log.warn(`postscreen_forbidden_commands: lookup of "${word.slice(0, 100)}": ${(err as Error).message}`);
      return false;
    }
  }

  private command(line: string, forbidden: boolean): Reply {
    const s = this.s;
    const m = /^[ \t]*(\S*)[ \t]*(.*)$/s.exec(line)!;
    const word = m[1]!;
    const args = m[2]!;
    const name = word.toUpperCase();
    const known = KNOWN.has(name);
    const savedWhere = s.where.at;
    s.where.at = known ? name : 'UNIMPLEMENTED';

    if (this.active('nsmtp') && !known) {
      const header = /^[\x21-\x39\x3b-\x7e]+:/.test(word);
      if (header || forbidden) {
        s.log.info(`NON-SMTP COMMAND from ${s.addrPort} after ${savedWhere}: ${word.replace(/[^\x21-\x7e]/g, '?')} ${escapeText(args)}`);
        if (this.deepFail('nsmtp', 'non-smtp test', '521 5.7.0 Error: I can break rules, too. Goodbye.')) return 'destroyed';
      }
    }
    if (name !== 'BDAT' && this.active('pipel') && s.input.length > 0) {
      s.log.info(`COMMAND PIPELINING from ${s.addrPort} after ${word.replace(/[^\x21-\x7e]/g, '?')}: ${escapeText(s.input)}`);
      if (this.deepFail('pipel', 'pipelining test', '521 5.5.1 Protocol error')) return 'destroyed';
    }
    if (name === 'RCPT') {
      // reaching RCPT passes the deep tests not failed so far
      for (const t of ['barlf', 'nsmtp', 'pipel'] as const) {
        const f = s.tests[t];
        if (f.todo && !f.pass && !f.fail) {
          f.pass = true;
          s.expire[t] = s.nowSeconds() + this.st.ttls[t];
        }
      }
    }
    if (++this.commands > this.st.commandCountLimit && name !== 'QUIT') {
      s.log.info(`COMMAND COUNT LIMIT from ${s.addrPort} after ${savedWhere}`);
      return this.finish(`421 ${this.st.myhostname} Service unavailable - try again later`);
    }
    if (!known || DISABLED.has(name)) return this.reply('502 5.5.2 Error: command not recognized');
    if (this.st.tlsLevel === 'encrypt' && !this.tls && !PRE_TLS.has(name)) return this.reply('530 5.7.0 Must issue a STARTTLS command first');
    return this.run(name, args);
  }

  private reply(line: string): Reply {
    return this.s.send(line) ? 'sent' : 'destroyed';
  }

  private ehloReply(): string {
    const st = this.st;
    const discard = new Set(st.discardEhlo.map((k) => k.toUpperCase()));
    const lines = [st.myhostname];
    const add = (k: string, text = k) => !discard.has(k) && lines.push(text);
    add('SIZE', st.messageSizeLimit > 0 ? `SIZE ${st.messageSizeLimit}` : 'SIZE');
    if (!st.disableVrfy) add('VRFY');
    add('ETRN');
    if (st.tlsLevel !== 'none' && this.s.shared.tls && !this.tls) add('STARTTLS');
    add('ENHANCEDSTATUSCODES');
    add('8BITMIME');
    add('DSN');
    add('SMTPUTF8');
    add('CHUNKING');
    return lines.map((l, i) => `250${i === lines.length - 1 ? ' ' : '-'}${l}`).join('\r\n');
  }

  private run(name: string, args: string): Reply {
    const s = this.s;
    const st = this.st;
    const first = args.split(/[ \t]+/).filter(Boolean)[0];
    switch (name) {
      case 'HELO':
      case 'EHLO':
        if (!first) return this.reply(`501 Syntax: ${name} hostname`);
        this.helo = first;
        this.sender = undefined;
        this.protocol = name === 'EHLO' ? 'ESMTP' : 'SMTP';
        return this.reply(name === 'EHLO' ? this.ehloReply() : `250 ${st.myhostname}`);
      case 'STARTTLS':
        return this.starttls(args);
      case 'MAIL': {
        if (st.heloRequired && !this.helo) return this.reply('503 5.5.1 Error: send HELO/EHLO first');
        if (this.sender !== undefined) return this.reply('503 5.5.1 Error: nested MAIL command');
        const colon = args.indexOf(':');
        if (colon < 0 || !/^from$/i.test(args.slice(0, colon).trim())) return this.reply('501 5.5.4 Syntax: MAIL FROM:<address>');
        const addr = extractAddr(args.slice(colon + 1));
        if (addr === undefined) return this.reply('501 5.1.7 Bad sender address syntax');
        this.sender = addr;
        return this.reply('250 2.1.0 Ok');
      }
      case 'RCPT': {
        if (this.sender === undefined) return this.reply('503 5.5.1 Error: need MAIL command');
        const colon = args.indexOf(':');
        if (colon < 0 || !/^to$/i.test(args.slice(0, colon).trim())) return this.reply('501 5.5.4 Syntax: RCPT TO:<address>');
        const addr = extractAddr(args.slice(colon + 1));
        if (addr === undefined) return this.reply('501 5.1.3 Bad recipient address syntax');
        s.log.info(
          `NOQUEUE: reject: RCPT from ${s.addrPort}: ${s.rcptReply}; from=<${this.sender}>, to=<${addr}>, proto=${this.protocol}, helo=<${this.helo ?? ''}>`,
        );
        return this.reply(s.rcptReply);
      }
      case 'DATA':
        s.log.info(`DATA without valid RCPT from ${s.addrPort}`);
        if (first) return this.finish('501 5.5.4 Syntax: DATA');
        if (this.sender === undefined) return this.finish('503 5.5.1 Error: need RCPT command');
        return this.finish('554 5.5.1 Error: no valid recipients');
      case 'BDAT':
        s.log.info(`BDAT without valid RCPT from ${s.addrPort}`);
        if (!first) return this.finish('501 5.5.4 Syntax: BDAT count [LAST]');
        if (this.sender === undefined) return this.finish('554 5.5.1 Error: need MAIL command');
        return this.finish('554 5.5.1 Error: no valid recipients');
      case 'RSET':
        this.sender = undefined;
        return this.reply('250 2.0.0 Ok');
      case 'NOOP':
        return this.reply('250 2.0.0 Ok');
      case 'VRFY':
        if (!first) return this.reply('501 5.5.4 Syntax: VRFY address');
        if (st.disableVrfy) return this.reply('502 5.5.1 VRFY command is disabled');
        return this.reply(s.rcptReply);
      case 'ETRN':
        if (st.heloRequired && !this.helo) return this.reply('503 5.5.1 Error: send HELO/EHLO first');
        if (!first) return this.reply('500 Syntax: ETRN domain');
        return this.reply('458 Unable to queue messages');
      case 'QUIT':
        return this.finish('221 2.0.0 Bye');
      default:
        return this.reply('502 5.5.2 Error: command not recognized');
    }
  }

  /** STARTTLS through tlsproxy(8): the dummy engine goes on over the TLS stream. */
  private starttls(args: string): Reply {
    const s = this.s;
    if (args.trim()) return this.reply('501 5.5.4 Syntax: STARTTLS');
    if (this.tls) return this.reply('554 5.5.1 Error: TLS already active');
    const engine = s.shared.tls;
    if (this.st.tlsLevel === 'none' || !engine) return this.reply('502 5.5.1 Error: command not implemented');
    // the engine (tlsproxy) answers "220 2.0.0 Ready to start TLS" itself, once it holds the socket;
    // RFC 3207: what the client sent behind STARTTLS is discarded
    s.input = Buffer.alloc(0);
    const plain = s.socket;
    plain.removeAllListeners('data');
    s.listen(undefined, () => s.hangupEvent());
    clearTimeout(this.timer);
    // after the replies still waiting for a footer lookup
    s.out.after(() => {
      if (s.isConcluded) return;
      void engine.start(plain, { address: s.address, port: Number(s.port) }).then(
        (secure) => {
          this.tls = true;
          this.helo = undefined;
          this.sender = undefined;
          s.attach(secure);
          this.arm();
          s.listen(
            () => this.read(),
            () => {
              clearTimeout(this.timer);
              s.hangupEvent();
            },
          );
        },
        (err: Error) => {
          s.log.warn(`cannot start TLS for ${s.addrPort}: ${err.message}`);
          s.hangupEvent();
        },
      );
    });
    return 'sent';
  }
}
