/**
 * smtpd_milters (Postfix's MILTER_README, smtpd_milter.c): one milter
 * chain per SMTP session, opened at connect. Each SMTP event goes to the
 * milters after smtpd's own restrictions accepted it; a milter's reply is
 * smtpd's reply (check_milter_reply: "milter-reject", "milter-hold",
 * "milter-discard" log lines). At the end of DATA the whole message goes
 * through the milters before cleanup gets it, with their header and body
 * edits, sender and recipient changes, and quarantine (HOLD) applied; the
 * headers they add or change meet milter_header_checks first (Postfix does
 * this in cleanup, which runs smtpd's milters; here smtpd runs them).
 */
import { MilterChain, MilterHeaderChecks, milterSpecs } from '@postern/milter';
import type { CleanupRequest, ConfigView, Logger, LookupTable, TableRegistry } from '@postern/core';
import type { SmtpdState } from './smtpd-state.js';

export type MilterLog = (action: string, text: string, recipient?: string) => void;

/** What a session does with a milter reply at an SMTP command. */
export interface MilterVerdict {
  /** The reply to give instead of the normal one. */
  readonly reply?: string;
  /** 421: disconnect after the reply. */
  readonly close?: boolean;
}

export class SmtpdMilters {
  private chain!: MilterChain;
  /** The recipient of the RCPT command being checked ({rcpt_addr}). */
  private rcptAddr?: string;
  /** milter_header_checks. */
  private headerChecks: readonly LookupTable[] = [];

  private constructor(
    private readonly config: ConfigView,
    private readonly state: SmtpdState,
    private readonly log: MilterLog,
    private readonly logger: Logger,
  ) {}

  /**
   * The chain of smtpd_milters, or of the smtpd_milter_maps result for the
   * client address (which overrides it; DISABLE: none); undefined when there
   * is none (or receive_override_options has no_milters).
   */
  static async open(config: ConfigView, logger: Logger, state: SmtpdState, log: MilterLog, noMilters: boolean, tables?: TableRegistry): Promise<SmtpdMilters | undefined> {
    if (noMilters) return undefined;
    let param = 'smtpd_milters';
    let value = config.get(param);
    const maps = config.get('smtpd_milter_maps').trim();
    if (maps && tables) {
      for (const table of tables.openList(maps)) {
        const found = await table.lookup(state.address);
        if (found === undefined) continue;
        if (found.trim().toLowerCase() === 'disable') return undefined;
        param = 'smtpd_milter_maps';
        value = found;
        break;
      }
    }
    if (value.trim() === '') return undefined;
    const specs = milterSpecs(config, param, value);
    const milters = new SmtpdMilters(config, state, log, logger);
    if (tables) milters.headerChecks = tables.openList(config.get('milter_header_checks'));
    milters.chain = await MilterChain.open(specs, config, (name) => milters.macro(name), (w) => logger.warn(w));
    return milters;
  }

  /**
   * check_milter_reply: H (hold) and D (discard) are recorded and the
   * command goes on; S is 421 and a disconnect; 4xx/5xx refuse the command.
   */
  private verdict(reply: string | undefined, recipient?: string): MilterVerdict {
    if (reply === undefined) return {};
    const s = this.state;
    if (reply.startsWith('H')) {
      if (s.hold) return {};
      s.hold = reply.slice(1) || 'milter triggers HOLD action';
      this.log('milter-hold', s.hold, recipient);
      return {};
    }
    if (reply === 'D') {
      if (s.discard) return {};
      s.discard = 'milter';
      this.log('milter-discard', 'milter triggers DISCARD action', recipient);
      return {};
    }
    if (reply === 'S') {
      this.log('milter-reject', '421 4.7.0 Server closing connection', recipient);
      return { reply: '421 4.7.0 Server closing connection', close: true };
    }
    this.log('milter-reject', reply, recipient);
    return { reply, close: reply.startsWith('421') };
  }

  /**
   * The connect event; a 5xx or 421 replaces the greeting (smtpd.c). The
   * milter's refusal then persists: it answers MAIL and the commands after.
   */
  async connect(): Promise<{ greeting?: string; close?: boolean }> {
    const s = this.state;
    const host = this.config.get('myhostname');
    const local = s.name === 'localhost' && s.port === 0;
    const v = this.verdict(await this.chain.connect(s.name, s.address, s.port, local ? 'unix' : s.address.includes(':') ? 'inet6' : 'inet'));
    if (v.reply?.startsWith('5')) return { greeting: `554 ${host} ESMTP not accepting connections` };
    if (v.reply?.startsWith('421')) return { greeting: `421 ${host} Service unavailable - try again later`, close: true };
    return {};
  }

  async helo(helo: string): Promise<MilterVerdict> {
    return this.verdict(await this.chain.helo(helo));
  }

  async mail(sender: string, params: readonly string[]): Promise<MilterVerdict> {
    return this.verdict(await this.chain.mail(sender, params));
  }

  async rcpt(recipient: string, params: readonly string[]): Promise<MilterVerdict> {
    this.rcptAddr = recipient;
    try {
      return this.verdict(await this.chain.rcpt(recipient, params), recipient);
    } finally {
      this.rcptAddr = undefined;
    }
  }

  async data(): Promise<MilterVerdict> {
    return this.verdict(await this.chain.data());
  }

  /**
   * The message stage: reads the whole content, runs it through the
   * milters, and returns the request and content cleanup gets, or the reply
   * that refuses the message.
   */
  async message(request: CleanupRequest, content: AsyncIterable<Buffer>): Promise<{ reply?: string; discard?: boolean; request: CleanupRequest; content: Buffer }> {
    const chunks: Buffer[] = [];
    for await (const c of content) chunks.push(c);
    this.state.where = 'END-OF-MESSAGE';
    const s = this.state;
    const client = request.client;
    const checks = this.headerChecks.length
      ? new MilterHeaderChecks(this.headerChecks, this.logger, {
          queueId: request.queueId ?? s.queueId ?? 'NOQUEUE',
          client: client?.log ?? `${client?.name ?? s.name}[${client?.address ?? s.address}]`,
          sender: request.sender,
          recipient: request.recipients.at(-1)?.address,
          protocol: client?.protocol,
          helo: client?.helo,
          hold: !!s.hold,
        })
      : undefined;
    const r = await this.chain.message(Buffer.concat(chunks), checks);
    this.chain.abort();
    // milter_header_checks logged their REJECT and DISCARD themselves (cleanup_milter_apply does not repeat them)
    if (checks?.reply) return { reply: checks.reply, request, content: r.content };
    if (checks?.discard) s.discard ??= 'milter';
    if (r.reply !== undefined) {
      const v = this.verdict(r.reply);
      return { reply: v.reply, request, content: r.content };
    }
    if (checks?.held) s.hold ??= 'milter_header_checks';
    if (r.discard) this.verdict('D');
    if (r.hold) this.verdict(`H${r.hold}`);
    let recipients = request.recipients.filter((x) => !r.deleteRecipients.some((d) => d.toLowerCase() === x.address.toLowerCase()));
    recipients = [...recipients, ...r.addRecipients.map((address) => ({ address })), ...(checks?.bcc ?? []).map((address) => ({ address }))];
    return {
      discard: !!s.discard,
      request: {
        ...request,
        sender: r.sender ?? request.sender,
        recipients,
        ...(s.hold && { flags: { ...request.flags, hold: true } }),
        ...(checks?.filter !== undefined && { filter: checks.filter }),
        ...(checks?.redirect !== undefined && { redirect: checks.redirect }),
      },
      content: r.content,
    };
  }

  /** RSET, or a transaction that ended before DATA. */
  abort(): void {
    this.chain.abort();
  }

  quit(): void {
    this.chain.quit();
  }

  /** smtpd_milter_eval: the macros of this session. */
  private macro(name: string): string | undefined {
    return sessionMacro(this.config, this.state, name, this.rcptAddr);
  }
}

function sessionMacro(config: ConfigView, s: SmtpdState, name: string, rcptAddr: string | undefined): string | undefined {
  const bare = name.replace(/^\{(.*)\}$/, '$1');
  switch (bare) {
    case 'i':
      return s.queueId;
    case 'j':
      return config.get('myhostname');
    case '_':
      return `${s.name} [${s.address}]`;
    case 'v':
      return config.expand(config.get('milter_macro_v'));
    case 'daemon_name':
      return config.expand(config.get('milter_macro_daemon_name'));
    case 'daemon_addr':
      return s.localAddress;
    case 'daemon_port':
      return String(s.localPort);
    case 'client_addr':
      return s.address;
    case 'client_name':
    case 'client_ptr':
      return s.name;
    case 'client_port':
      return String(s.port);
    case 'client_resolve':
      return s.name === 'unknown' ? 'FAIL' : 'OK';
    case 'tls_version':
      return s.tls?.protocol;
    case 'cipher':
      return s.tls?.cipher;
    case 'cipher_bits':
      return s.tls ? String(s.tls.bits) : undefined;
    // smtpd_milter.c: the CommonNames of a verified client certificate only
    case 'cert_subject':
      return s.tls?.peer?.trusted ? s.tls.peer.subjectCN : undefined;
    case 'cert_issuer':
      return s.tls?.peer?.trusted ? s.tls.peer.issuerCN : undefined;
    case 'auth_type':
      return s.saslMethod;
    case 'auth_authen':
      return s.saslUsername;
    case 'auth_author':
      return s.senderSaslAuth;
    case 'mail_addr':
      return s.sender;
    case 'rcpt_addr':
      return rcptAddr;
    default:
      return undefined;
  }
}
