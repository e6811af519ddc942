/**
 * smtpd's per-client event limits counted by anvil(8) (smtpd.c): messages at
 * MAIL FROM, recipients at RCPT TO, new TLS sessions at STARTTLS and after
 * the handshake, and AUTH commands, each compared with its
 * smtpd_client_*_rate_limit. Clients that smtpd_client_event_limit_exceptions
 * matches are never counted, and an unreachable anvil counts nothing (its
 * stub answers "fail"), as in Postfix.
 */
import { anvilLimitReply, type AnvilLimitKind, type AnvilService, type ConfigView, type Logger } from '@postern/core';
import type { NetworkMatcher } from './smtpd-peer.js';
import type { SmtpdState } from './smtpd-state.js';

const LIMIT_PARAM = {
  message: 'smtpd_client_message_rate_limit',
  recipient: 'smtpd_client_recipient_rate_limit',
  newtls: 'smtpd_client_new_tls_session_rate_limit',
  starttls: 'smtpd_client_new_tls_session_rate_limit',
  auth: 'smtpd_client_auth_rate_limit',
} as const;

type EventKind = keyof typeof LIMIT_PARAM;

export class SmtpdEventLimits {
  private exempt: Promise<boolean> | undefined;

  constructor(
    private readonly config: ConfigView,
    private readonly log: Logger,
    private readonly anvil: AnvilService | undefined,
    private readonly exceptions: NetworkMatcher,
    private readonly state: SmtpdState,
  ) {}

  /** The reply when this event is over its limit (the warning already logged), else undefined. */
  async over(kind: EventKind): Promise<string | undefined> {
    const limit = this.config.int(LIMIT_PARAM[kind]);
    if (!this.anvil || limit <= 0) return undefined;
    const s = this.state;
    this.exempt ??= this.exceptions.match(s.address, s.name);
    if (await this.exempt) return undefined;
    const service = this.config.get('service_name');
    const answer = await this.ask(kind, service, s.address);
    if (answer.status !== 'ok') return undefined;
    const hit = anvilLimitReply(kind as AnvilLimitKind | 'starttls', answer.rate, limit, s.address, service, this.config.get('myhostname'), s.namaddr);
    if (!hit) return undefined;
    this.log.warn(hit.warning);
    return hit.reply;
  }

  private ask(kind: EventKind, service: string, addr: string) {
    const a = this.anvil!;
    switch (kind) {
      case 'message':
        return a.message(service, addr);
      case 'recipient':
        return a.recipient(service, addr);
      case 'newtls':
        return a.newtls(service, addr);
      case 'starttls':
        return a.newtlsReport(service, addr);
      case 'auth':
        return a.auth(service, addr);
    }
  }
}
