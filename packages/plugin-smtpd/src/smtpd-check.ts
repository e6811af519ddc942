/**
 * smtpd's access restrictions (Postfix's smtpd_check.c): the restriction
 * lists of each stage evaluated as SMTPD_ACCESS_README describes them, the
 * access(5) actions of check_*_access tables, and the address-class checks
 * that use trivial-rewrite's resolve() answer. A check returns undefined
 * (go ahead) or the reply line to give ("554 5.7.1 <x>: Relay access denied").
 */
import { resolve as dnsResolve } from 'node:dns/promises';
import { networkInterfaces } from 'node:os';
import type {
  ConfigView,
  Logger,
  LookupTable,
  NameResolver,
  ResolveResult,
  RewriteService,
  SmtpdCheckState,
  SmtpdHookRegistry,
  SmtpdStage,
  SmtpdVerdict,
  TableRegistry,
  VerifyService,
} from '@postern/core';
import type { NetworkMatcher } from './smtpd-peer.js';
import type { InputTransp } from './smtpd-transp.js';
import { policyRequest, policySettings, type PolicyClients } from './smtpd-policy.js';
import type { SmtpdState } from './smtpd-state.js';
import { RBL_CLASS, SmtpdDnsxl } from './smtpd-dnsbl.js';
import { checkUnverified } from './smtpd-verify.js';
import { serverCandidates, type ServerType } from './smtpd-server-access.js';

export interface CheckDeps {
  readonly config: ConfigView;
  readonly log: Logger;
  readonly rewrite: RewriteService;
  readonly tables?: TableRegistry;
  readonly hooks: SmtpdHookRegistry;
  readonly mynetworks: NetworkMatcher;
  /** check_policy_service's connections (one set per smtpd process). */
  readonly policy?: PolicyClients;
  /** receive_override_options. */
  readonly transp?: ReadonlySet<InputTransp>;
  /** reject_rbl_client and friends (smtpd-dnsbl.ts). */
  readonly dnsxl?: SmtpdDnsxl;
  /** verify(8), for reject_unverified_* (smtpd-verify.ts), and how to wait between its polls. */
  readonly verify?: VerifyService;
  readonly sleep?: (ms: number) => Promise<void>;
  /** DNS for reject_unknown_helo_hostname and check_*_{mx,ns,a}_access. */
  readonly resolver?: NameResolver;
}

/** A check's outcome inside a restriction list. */
type Result = 'ok' | 'dunno' | { reply: string };

/** What is being checked: the reply's "<name>: class rejected" parts and the log stage. */
interface Target {
  readonly replyName: string;
  readonly replyClass: string;
  readonly stage: SmtpdStage;
  readonly recipient?: string;
}

/** Thrown inside a restriction list to stop with a reply (Postfix's longjmp). */
class Reject {
  constructor(readonly reply: string) {}
}

const CLIENT = 'Client host';
const REV_CLIENT = 'Unverified Client host';
const SASL_USER = 'SASL login name';
const HELO = 'Helo command';
const SENDER = 'Sender address';
const RECIPIENT = 'Recipient address';

/** Makes the enhanced code agree with the reply code's class (smtpd_dsn_fix). */
function dsnFix(code: number, dsn: string): string {
  const cls = String(code)[0];
  return /^[245]\./.test(dsn) ? cls + dsn.slice(1) : dsn;
}

/** dsn_split(): a leading "X.Y.Z " of an action's text is its enhanced status code. */
function dsnSplit(def: string, text: string): { dsn: string; text: string } {
  const m = /^([245]\.\d{1,3}\.\d{1,3})(?:\s+(.*))?$/s.exec(text);
  return m ? { dsn: m[1]!, text: m[2] ?? '' } : { dsn: def, text };
}

/** "user@domain" -> domain ("" when none). */
export function domainOf(addr: string): string {
  const at = addr.lastIndexOf('@');
  return at < 0 ? '' : addr.slice(at + 1);
}

/** Restriction classes Postfix defines itself (smtpd_check.c). */
export const BUILTIN_CLASSES: Readonly<Record<string, readonly string[]>> = {
  reject_sender_login_mismatch: ['reject_authenticated_sender_login_mismatch', 'reject_unauthenticated_sender_login_mismatch'],
};

/** Nesting of restriction lists (classes, access table results) beyond which a loop is assumed. */
const MAX_RECURSION = 100;

/** check_<what>_<type>_access: [what, type]. */
function serverAccessName(name: string): [string, ServerType] | undefined {
  const m = /^check_(client|reverse_client|helo|sender|recipient)_(mx|ns|a)_access$/.exec(name);
  return m ? [m[1]!, m[2] as ServerType] : undefined;
}

/** A host name in the FQDN form reject_non_fqdn_* want. */
function isFqdn(name: string): boolean {
  return /^[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)+\.?$/i.test(name);
}

function isAddressLiteral(name: string): boolean {
  return /^\[(IPv6:[0-9a-f:.]+|\d+\.\d+\.\d+\.\d+)\]$/i.test(name);
}

/** valid_hostname() / valid_hostaddr() of reject_invalid_helo_hostname. */
export function validHeloName(name: string): boolean {
  if (isAddressLiteral(name)) return true;
  if (name.length > 255) return false;
  const labels = name.replace(/\.$/, '').split('.');
  if (labels.some((l) => l.length === 0 || l.length > 63 || !/^[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?$/i.test(l))) return false;
  // All-numeric names are not host names.
  return !labels.every((l) => /^\d+$/.test(l));
}

export class SmtpdCheck {
  private readonly resolved = new Map<string, Promise<ResolveResult>>();
  private readonly tableCache = new Map<string, LookupTable[]>();
  private warnIfReject = false;
  private deferIfReject = false;
  private recursion = 0;

  constructor(
    private readonly deps: CheckDeps,
    private readonly state: SmtpdState,
  ) {}

  // ---- public stage checks ------------------------------------------------

  /** Connect time (only with smtpd_delay_reject = no, plus connect hooks). */
  async client(): Promise<string | undefined> {
    const t: Target = { replyName: this.state.namaddr, replyClass: CLIENT, stage: 'connect' };
    const hook = await this.runHooks('connect', t);
    if (hook) return hook;
    if (this.deps.config.bool('smtpd_delay_reject')) return undefined;
    return this.finish(await this.list('smtpd_client_restrictions', t));
  }

  async helo(helo: string): Promise<string | undefined> {
    const t: Target = { replyName: helo, replyClass: HELO, stage: 'helo' };
    const hook = await this.runHooks('helo', t);
    if (hook) return hook;
    if (this.deps.config.bool('smtpd_delay_reject')) return undefined;
    return this.finish(await this.list('smtpd_helo_restrictions', t));
  }

  async mail(sender: string): Promise<string | undefined> {
    const t: Target = { replyName: sender, replyClass: SENDER, stage: 'mail' };
    const hook = await this.runHooks('mail', t);
    if (hook) return hook;
    if (this.deps.config.bool('smtpd_delay_reject')) return undefined;
    const r = await this.list('smtpd_sender_restrictions', t);
    if (typeof r === 'object') return this.finish(r);
    return this.finish(await this.guard(() => this.unlistedSender(sender)));
  }

  /** RCPT TO: the delayed classes, then relay and recipient restrictions, then the implicit unlisted check. */
  async rcpt(recipient: string): Promise<string | undefined> {
    this.deferIfReject = false;
    this.warnIfReject = false;
    const s = this.state;
    const delay = this.deps.config.bool('smtpd_delay_reject');
    const rt: Target = { replyName: recipient, replyClass: RECIPIENT, stage: 'rcpt', recipient };
    const hook = await this.runHooks('rcpt', rt);
    if (hook) return hook;
    if (delay) {
      const classes: [string, Target][] = [
        ['smtpd_client_restrictions', { replyName: s.namaddr, replyClass: CLIENT, stage: 'rcpt', recipient }],
        ['smtpd_helo_restrictions', { replyName: s.helo ?? '', replyClass: HELO, stage: 'rcpt', recipient }],
        ['smtpd_sender_restrictions', { replyName: s.sender ?? '', replyClass: SENDER, stage: 'rcpt', recipient }],
      ];
      for (const [param, t] of classes) {
        const r = await this.list(param, t);
        if (typeof r === 'object') return this.finish(r);
      }
      const us = await this.guard(() => this.unlistedSender(s.sender ?? '', recipient));
      if (typeof us === 'object') return this.finish(us);
    }
    const relay = await this.list('smtpd_relay_restrictions', rt);
    if (typeof relay === 'object') return this.finish(relay);
    const rcpt = await this.list('smtpd_recipient_restrictions', rt);
    if (typeof rcpt === 'object') return this.finish(rcpt);
    if (this.deps.config.bool('smtpd_reject_unlisted_recipient')) {
      const r = await this.guard(() => this.unlisted(recipient, RECIPIENT, rt));
      if (typeof r === 'object') return this.finish(r);
    }
    return this.finish('dunno', rt);
  }

  /** VRFY: only the recipient-table check (smtpd_check_rcptmap). */
  async rcptmap(recipient: string): Promise<string | undefined> {
    const t: Target = { replyName: recipient, replyClass: RECIPIENT, stage: 'rcpt', recipient };
    const r = await this.guard(() => this.unlisted(recipient, RECIPIENT, t));
    return typeof r === 'object' ? r.reply : undefined;
  }

  async data(): Promise<string | undefined> {
    const t: Target = { replyName: 'DATA', replyClass: 'Data command', stage: 'data' };
    const hook = await this.runHooks('data', t);
    if (hook) return hook;
    return this.finish(await this.list('smtpd_data_restrictions', t));
  }

  async endOfData(): Promise<string | undefined> {
    const t: Target = { replyName: 'END-OF-MESSAGE', replyClass: 'End-of-data', stage: 'end-of-data' };
    const hook = await this.runHooks('end-of-data', t);
    if (hook) return hook;
    return this.finish(await this.list('smtpd_end_of_data_restrictions', t));
  }

  /** Plugin data for restriction hooks. */
  checkState(stage: SmtpdStage, recipient?: string, size?: number): SmtpdCheckState {
    const s = this.state;
    return {
      stage,
      clientName: s.name,
      clientAddress: s.address,
      clientPort: s.port,
      helo: s.helo,
      protocol: s.protocol,
      sender: s.sender,
      recipient,
      recipients: s.recipients.map((r) => r.address),
      saslUsername: s.saslUsername,
      saslMethod: s.saslMethod,
      encrypted: s.encrypted,
      size: size ?? s.sizeAnnounced,
      queueId: s.queueId,
      myhostname: this.deps.config.get('myhostname'),
    };
  }

  /** Message size for end-of-data checks. */
  messageSize?: number;

  // ---- machinery ------------------------------------------------------------

  private async guard(run: () => Promise<Result>): Promise<Result> {
    try {
      return await run();
    } catch (err) {
      if (err instanceof Reject) return { reply: err.reply };
      if (err instanceof Dunno) return 'dunno';
      throw err;
    }
  }

  /** A list's final result; defer_if_permit turns a permit into a deferral. */
  private finish(r: Result, t?: Target): string | undefined {
    if (typeof r === 'object') return r.reply;
    if (t?.stage === 'rcpt' && this.state.deferIfPermit) {
      const d = this.state.deferIfPermit;
      this.state.deferIfPermit = undefined;
      const reply = `${d.code} ${d.dsn} ${d.text}`;
      this.logAction('reject', reply, t);
      return reply;
    }
    return undefined;
  }

  private async runHooks(stage: SmtpdStage, t: Target): Promise<string | undefined> {
    for (const hook of this.deps.hooks.hooks(stage)) {
      try {
        const v = await hook(this.checkState(stage, t.recipient, this.messageSize));
        const r = await this.verdict(v, t);
        if (typeof r === 'object') return r.reply;
      } catch (err) {
        if (err instanceof Reject) return err.reply;
        if (err instanceof Dunno) continue;
        this.deps.log.warn(`smtpd hook at ${stage}: ${(err as Error).message}`);
        return this.tempfail(t, 'Server configuration error');
      }
    }
    return undefined;
  }

  /** Evaluates parameter `param`'s restriction list. */
  private async list(param: string, t: Target): Promise<Result> {
    return this.generic(this.deps.config.list(param), t, param);
  }

  private async generic(items: readonly string[], t: Target, where: string): Promise<Result> {
    if (++this.recursion > MAX_RECURSION) {
      this.recursion = 0;
      this.deps.log.warn(`restriction list ${where} causes unreasonable recursion`);
      return { reply: this.tempfail(t, 'Server configuration error') };
    }
    try {
      for (let i = 0; i < items.length; i++) {
        const name = items[i]!;
        const arg = (): string => {
          const next = items[++i];
          if (next === undefined) {
            this.deps.log.warn(`restriction \`${name}' requires a table argument`);
            throw new Reject(this.tempfail(t, 'Server configuration error'));
          }
          return next;
        };
        let r: Result;
        try {
          r = await this.restriction(name.toLowerCase(), arg, t, where);
        } catch (err) {
          if (err instanceof Dunno) continue;
          throw err;
        }
        if (r === 'dunno') continue;
        return r;
      }
      return 'dunno';
    } catch (err) {
      if (err instanceof Reject) return { reply: err.reply };
      throw err;
    } finally {
      this.recursion = Math.max(0, this.recursion - 1);
    }
  }

  /** One restriction; rejects throw. */
  private async restriction(name: string, arg: () => string, t: Target, where: string): Promise<Result> {
    const s = this.state;
    const c = this.deps.config;
    const rcpt = t.recipient;
    switch (name) {
      case 'permit':
        return 'ok';
      case 'dunno':
        return 'dunno';
      case 'reject':
        return this.reject(t, c.int('reject_code'), '5.7.1', `<${t.replyName}>: ${t.replyClass} rejected: Access denied`);
      case 'defer':
        return this.reject(t, c.int('defer_code'), '4.7.1', `<${t.replyName}>: ${t.replyClass} rejected: Access denied`);
      case 'defer_if_permit':
        this.deferIfPermitSet(t, `<${t.replyName}>: ${t.replyClass} rejected: defer_if_permit requested`);
        return 'dunno';
      case 'defer_if_reject':
        this.deferIfReject = true;
        return 'dunno';
      case 'warn_if_reject':
        this.warnIfReject = true;
        return 'dunno';
      case 'reject_unauth_pipelining':
        if (s.illegalPipelining)
          return this.reject(t, 554, '5.5.0', 'Error: improper use of SMTP command pipelining');
        return 'dunno';
      case 'permit_mynetworks':
        return (await this.deps.mynetworks.match(s.address, s.name)) ? 'ok' : 'dunno';
      case 'permit_sasl_authenticated':
        return s.saslUsername !== undefined && s.saslMethod?.toLowerCase() !== 'anonymous' ? 'ok' : 'dunno';
      case 'permit_tls_all_clientcerts':
      case 'permit_tls_clientcerts':
        return 'dunno';
      case 'reject_unauth_destination':
      case 'defer_unauth_destination':
      case 'permit_auth_destination':
      case 'reject_unlisted_recipient':
      case 'check_recipient_access':
      case 'reject_non_fqdn_recipient':
      case 'reject_unknown_recipient_domain':
      case 'permit_mx_backup':
        if (!rcpt) {
          if (name === 'check_recipient_access') arg();
          this.deps.log.warn(`restriction \`${name}' ignored: no recipient in current context`);
          return 'dunno';
        }
        return this.recipientRestriction(name, rcpt, arg, t);
      case 'reject_unlisted_sender':
        return s.sender ? this.unlisted(s.sender, SENDER, t) : 'dunno';
      case 'reject_non_fqdn_sender':
        if (s.sender && !isFqdn(domainOf(s.sender)) && !isAddressLiteral(domainOf(s.sender)))
          return this.reject(t, c.int('non_fqdn_reject_code'), '5.5.2', `<${s.sender}>: ${SENDER} rejected: need fully-qualified address`);
        return 'dunno';
      case 'reject_unknown_sender_domain':
        return s.sender ? this.unknownDomain(s.sender, SENDER, '1.8', t) : 'dunno';
      case 'reject_non_fqdn_helo_hostname':
      case 'reject_non_fqdn_hostname':
        if (s.helo && !isFqdn(s.helo) && !isAddressLiteral(s.helo))
          return this.reject(t, c.int('non_fqdn_reject_code'), '5.5.2', `<${s.helo}>: ${HELO} rejected: need fully-qualified hostname`);
        return 'dunno';
      case 'reject_invalid_helo_hostname':
      case 'reject_invalid_hostname':
        if (s.helo && !validHeloName(s.helo))
          return this.reject(t, c.int('invalid_hostname_reject_code'), '5.5.2', `<${s.helo}>: ${HELO} rejected: Invalid name`);
        return 'dunno';
      case 'reject_unknown_client_hostname':
      case 'reject_unknown_client':
        if (s.name === 'unknown')
          return this.reject(t, s.nameTempfail ? 450 : c.int('unknown_client_reject_code'), '4.7.25', `${CLIENT} rejected: cannot find your hostname, [${s.address}]`);
        return 'dunno';
      case 'reject_unknown_reverse_client_hostname':
        if (s.reverseName === 'unknown')
          return this.reject(t, s.reverseTempfail ? 450 : c.int('unknown_client_reject_code'), '4.7.1', `${CLIENT} rejected: cannot find your reverse hostname, [${s.address}]`);
        return 'dunno';
      case 'reject_unknown_helo_hostname':
      case 'reject_unknown_hostname':
        return s.helo ? this.unknownHelo(s.helo, t) : 'dunno';
      case 'reject_plaintext_session':
        return s.encrypted ? 'dunno' : this.reject(t, c.int('plaintext_reject_code'), '4.7.1', 'Session encryption is required');
      case 'permit_inet_interfaces':
        return ownInetAddresses(c).has(s.address.toLowerCase()) ? 'ok' : 'dunno';
      case 'reject_multi_recipient_bounce':
        // at RCPT the recipient being checked is not counted yet
        if (s.sender === '' && s.recipients.length > (t.stage === 'rcpt' ? 0 : 1))
          return this.reject(t, c.int('multi_recipient_bounce_reject_code'), '5.5.3', `<${t.replyName}>: ${t.replyClass} rejected: Multi-recipient bounce`);
        return 'dunno';
      case 'sleep': {
        const secs = arg();
        if (!/^\d+$/.test(secs)) {
          this.deps.log.warn('restriction sleep must be followed by number');
          return { reply: this.tempfail(t, 'Server configuration error') };
        }
        await (this.deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms))))(Number(secs) * 1000);
        return 'dunno';
      }
      case 'check_reverse_client_hostname_access':
        return this.access(arg(), this.clientKeys(s.reverseName), t, s.reverseName, REV_CLIENT, where);
      case 'check_sasl_access': {
        const table = arg();
        if (!c.bool('smtpd_sasl_auth_enable')) return this.noSasl(name);
        return s.saslUsername ? this.access(table, [s.saslUsername], t, s.saslUsername.replace(/[^\x21-\x7e]/g, '_'), SASL_USER, where) : 'dunno';
      }
      case 'reject_authenticated_sender_login_mismatch':
      case 'reject_known_sender_login_mismatch':
      case 'reject_unauthenticated_sender_login_mismatch':
        if (!c.bool('smtpd_sasl_auth_enable')) return this.noSasl(name);
        return s.sender ? this.loginMismatch(name, s.sender, t) : 'dunno';
      case 'check_client_access':
        return this.access(arg(), this.clientKeys(), t, s.namaddr, CLIENT, where);
      case 'check_helo_access':
        return s.helo ? this.access(arg(), this.domainKeys(s.helo), t, s.helo, HELO, where) : (arg(), 'dunno');
      case 'check_sender_access': {
        const table = arg();
        if (s.sender === undefined) return 'dunno';
        const keys = s.sender === '' ? [c.get('smtpd_null_access_lookup_key') || '<>'] : this.addressKeys(s.sender);
        return this.access(table, keys, t, s.sender, SENDER, where);
      }
      case 'check_policy_service':
        return this.policyService(arg(), t, where);
      case 'reject_rbl_client':
      case 'reject_rbl':
      case 'permit_dnswl_client':
      case 'reject_rhsbl_client':
      case 'permit_rhswl_client':
      case 'reject_rhsbl_reverse_client':
      case 'reject_rhsbl_helo':
      case 'reject_rhsbl_sender':
      case 'reject_rhsbl_recipient':
        return this.dnsxl(name, arg(), t);
      case 'reject_unverified_recipient':
        if (!rcpt) {
          this.deps.log.warn(`restriction \`${name}' ignored: no recipient in current context`);
          return 'dunno';
        }
        return this.unverified(rcpt, RECIPIENT, t);
      case 'reject_unverified_sender':
        return s.sender ? this.unverified(s.sender, SENDER, t) : 'dunno';
      default: {
        const server = serverAccessName(name);
        if (server) return this.serverAccess(name, server, arg(), t, where);
        const cls = this.restrictionClass(name);
        if (cls === null) return { reply: this.tempfail(t, 'Server configuration error') };
        if (cls) return this.generic(cls, t, name);
        const plugin = this.deps.hooks.restriction(name);
        if (plugin) return this.verdict(await plugin(this.checkState(t.stage, rcpt, this.messageSize)), t);
        this.deps.log.warn(`unknown smtpd restriction: "${name}"`);
        return { reply: this.tempfail(t, 'Server configuration error') };
      }
    }
  }

  private async recipientRestriction(name: string, rcpt: string, arg: () => string, t: Target): Promise<Result> {
    const c = this.deps.config;
    switch (name) {
      case 'check_recipient_access':
        return this.access(arg(), this.addressKeys(rcpt), t, rcpt, RECIPIENT, 'check_recipient_access');
      case 'reject_non_fqdn_recipient': {
        const d = domainOf(rcpt);
        if (!isFqdn(d) && !isAddressLiteral(d))
          return this.reject(t, c.int('non_fqdn_reject_code'), '5.5.2', `<${rcpt}>: ${RECIPIENT} rejected: need fully-qualified address`);
        return 'dunno';
      }
      case 'reject_unknown_recipient_domain':
        return this.unknownDomain(rcpt, RECIPIENT, '1.2', t);
      case 'reject_unlisted_recipient':
        return this.unlisted(rcpt, RECIPIENT, t);
      default: {
        const res = await this.resolve(rcpt);
        const authorized = this.authDestination(res);
        if (name === 'permit_auth_destination' || name === 'permit_mx_backup') return authorized ? 'ok' : 'dunno';
        if (authorized) return 'dunno';
        // defer_unauth_destination answers relay_domains_reject_code - 100 (454 by default), as smtpd_check.c does
        const defer = name === 'defer_unauth_destination';
        return this.reject(
          t,
          c.int('relay_domains_reject_code') - (defer ? 100 : 0),
          defer ? '4.7.1' : '5.7.1',
          `<${rcpt}>: Relay access denied`,
        );
      }
    }
  }

  /** A name of smtpd_restriction_classes (or a built-in class): its restriction list; null when it has none. */
  private restrictionClass(name: string): readonly string[] | null | undefined {
    const builtin = BUILTIN_CLASSES[name];
    if (builtin) return builtin;
    const c = this.deps.config;
    if (!c.list('smtpd_restriction_classes').some((n) => n.toLowerCase() === name)) return undefined;
    if (!c.isSet(name)) {
      this.deps.log.warn(`restriction class \`${name}' needs a definition`);
      return null;
    }
    return c.list(name);
  }

  private noSasl(name: string): Result {
    this.deps.log.warn(`restriction \`${name}' ignored: no SASL support`);
    return 'dunno';
  }

  /** reject_{authenticated,known,unauthenticated}_sender_login_mismatch (smtpd_check.c reject_auth_sender_login_mismatch). */
  private async loginMismatch(name: string, sender: string, t: Target): Promise<Result> {
    const c = this.deps.config;
    const spec = c.get('smtpd_sender_login_maps').trim();
    if (!spec) return 'dunno';
    const user = this.state.saslUsername;
    const known = name === 'reject_known_sender_login_mismatch';
    if (name === 'reject_unauthenticated_sender_login_mismatch' && user) return 'dunno';
    if (name === 'reject_authenticated_sender_login_mismatch' && !user) return 'dunno';
    let owners: string | undefined;
    try {
      const res = await this.resolve(sender);
      owners = await this.lookupAny(spec, this.mailAddrKeys(res.recipient || sender, res.class === 'local'), false);
    } catch (err) {
      this.deps.log.warn(`smtpd_sender_login_maps lookup error for "${sender}": ${(err as Error).message}`);
      return this.reject(t, 451, '4.3.0', `<${sender}>: Temporary lookup failure`);
    }
    const target = { ...t, replyName: sender, replyClass: SENDER };
    if (!user) {
      return owners !== undefined ? this.reject(target, 553, '5.7.1', `<${sender}>: ${SENDER} rejected: not logged in`) : 'dunno';
    }
    if (owners === undefined && known) return 'dunno';
    const owned = owners?.split(/[\s,]+/).some((o) => o.toLowerCase() === user.toLowerCase()) ?? false;
    return owned ? 'dunno' : this.reject(target, 553, '5.7.1', `<${sender}>: ${SENDER} rejected: not owned by user ${user}`);
  }

  /** reject_unknown_helo_hostname (smtpd_check.c reject_unknown_hostname): no address and no MX record. */
  private async unknownHelo(helo: string, t: Target): Promise<Result> {
    if (helo.startsWith('[')) return validHeloName(helo) ? 'dunno' : this.reject(t, this.deps.config.int('invalid_hostname_reject_code'), '5.5.2', `<${helo}>: ${HELO} rejected: Invalid ip address`);
    const r = this.deps.resolver;
    if (!r) return { reply: this.tempfail(t, 'Server configuration error') };
    const a = await r.addresses(helo, 'dns');
    if (a.status === 'ok' && a.records.length > 0) return 'dunno';
    const mx = await r.mx(helo);
    if (mx.status === 'ok' && mx.records.length > 0) return 'dunno';
    const target = { ...t, replyName: helo, replyClass: HELO };
    if (a.status === 'tempfail' || mx.status === 'tempfail') {
      if (this.deps.config.get('unknown_helo_hostname_tempfail_action').trim() === 'defer') return this.reject(target, 450, '4.7.1', `<${helo}>: ${HELO} rejected: Host not found`);
      this.deferIfPermitSet(target, `<${helo}>: ${HELO} rejected: Host not found`);
      return 'dunno';
    }
    return this.reject(target, this.deps.config.int('unknown_hostname_reject_code'), '4.7.1', `<${helo}>: ${HELO} rejected: Host not found`);
  }

  /**
   * check_*_{mx,ns,a}_access (smtpd_check.c check_server_access): the table
   * is searched for each host (smtpd-server-access.ts) until an entry is
   * found. OK is refused: a DNS answer the client controls must not open
   * anything (use DUNNO for an exception).
   */
  private async serverAccess(name: string, [what, type]: [string, ServerType], spec: string, t: Target, where: string): Promise<Result> {
    const s = this.state;
    const subject = ((): [string, string, string] | undefined => {
      switch (what) {
        case 'client':
          return s.name !== 'unknown' ? [s.name, s.namaddr, CLIENT] : undefined;
        case 'reverse_client':
          return s.reverseName !== 'unknown' ? [s.reverseName, s.reverseName, REV_CLIENT] : undefined;
        case 'helo':
          return s.helo ? [s.helo, s.helo, HELO] : undefined;
        case 'sender':
          return s.sender ? [s.sender, s.sender, SENDER] : undefined;
        default:
          return t.recipient ? [t.recipient, t.recipient, RECIPIENT] : undefined;
      }
    })();
    if (!subject) return 'dunno';
    const [lookup, replyName, cls] = subject;
    if (!this.deps.resolver) return { reply: this.tempfail(t, 'Server configuration error') };
    for await (const cand of serverCandidates(this.deps.resolver, type, lookup, this.deps.log, `${cls} ${replyName}`)) {
      const keys = 'host' in cand ? this.domainKeys(cand.host) : hostAddressKeys(cand.address);
      let value: string | undefined;
      try {
        value = await this.lookupAny(spec, keys, true);
      } catch (err) {
        this.deps.log.warn(`${spec}: table lookup problem: ${(err as Error).message}`);
        return this.reject(t, 451, '4.3.0', `<${replyName}>: Temporary lookup failure`);
      }
      if (value === undefined) continue;
      const r = await this.accessAction(value, t, replyName, cls, where);
      if (r === 'ok' && !s.discard) {
        this.deps.log.warn(`restriction ${name} returns OK for ${lookup}`);
        this.deps.log.warn('this is not allowed for security reasons');
        this.deps.log.warn('use DUNNO instead of OK if you want to make an exception');
        return { reply: this.tempfail(t, 'Server configuration error') };
      }
      return r;
    }
    return 'dunno';
  }

  /** reject_unverified_recipient / _sender through verify(8) (smtpd-verify.ts). */
  private async unverified(addr: string, cls: typeof RECIPIENT | typeof SENDER, t: Target): Promise<Result> {
    if (!this.deps.verify) return { reply: this.tempfail(t, 'Server configuration error') };
    const sleep = this.deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
    const v = await checkUnverified(this.deps.config, this.deps.log, this.deps.verify, sleep, addr, cls);
    if (v.kind === 'dunno') return 'dunno';
    const target = { ...t, replyName: addr, replyClass: cls };
    if (v.kind === 'defer_if_permit') {
      if (!this.state.deferIfPermit) this.state.deferIfPermit = { code: v.code, dsn: v.dsn, text: v.text, where: t.stage };
      return 'dunno';
    }
    return this.reject(target, v.code, v.dsn, v.text);
  }

  /** The DNSxL restrictions (smtpd-dnsbl.ts): what each looks up, and Postfix's replies. */
  private async dnsxl(name: string, spec: string, t: Target): Promise<Result> {
    const s = this.state;
    const x = this.deps.dnsxl;
    if (!x) return { reply: this.tempfail(t, 'Server configuration error') };
    const permit = name.startsWith('permit_');
    const known = (n: string) => (n !== 'unknown' ? n : undefined);
    const [what, cls, byAddress] = ((): [string | undefined, string, boolean] => {
      switch (name) {
        case 'reject_rbl_client':
        case 'reject_rbl':
        case 'permit_dnswl_client':
          return [s.address, RBL_CLASS.client, true];
        case 'reject_rhsbl_client':
        case 'permit_rhswl_client':
          return [known(s.name), RBL_CLASS.client, false];
        case 'reject_rhsbl_reverse_client':
          return [known(s.reverseName), RBL_CLASS.reverse, false];
        case 'reject_rhsbl_helo':
          return [s.helo, RBL_CLASS.helo, false];
        case 'reject_rhsbl_sender':
          return [s.sender || undefined, RBL_CLASS.sender, false];
        default:
          return [t.recipient, RBL_CLASS.recipient, false];
      }
    })();
    if (!what) return 'dunno';
    const lookupName = byAddress ? what : SmtpdDnsxl.domainOf(what);
    if (!lookupName) return 'dunno';
    // an allowlisting never opens the relay: at RCPT the recipient must be ours to accept
    if (permit && t.stage === 'rcpt' && t.recipient && !this.authDestination(await this.resolve(t.recipient))) return 'dunno';
    let r;
    try {
      r = await x.query(spec, lookupName);
    } catch (err) {
      this.deps.log.warn(`${name} ${spec}: ${(err as Error).message}`);
      return { reply: this.tempfail(t, 'Server configuration error') };
    }
    if (permit) {
      if (r.status === 'listed') return 'ok';
      // DEFER_IF_REJECT: a DNSWL that cannot be asked turns a later reject into a deferral
      if (r.status === 'tempfail') this.deferIfReject = true;
      return 'dunno';
    }
    if (r.status !== 'listed') return 'dunno';
    const reply = await x.rejectReply(spec, what, cls, r.txt, {
      client_address: s.address,
      client_name: s.name,
      helo_name: s.helo,
      sender: s.sender,
      recipient: t.recipient,
    });
    return this.reject(t, reply.code, dsnFix(reply.code, reply.dsn), reply.text);
  }

  /** check_policy_service (SMTPD_POLICY_README): the server's action=, applied as an access(5) action. */
  private async policyService(server: string, t: Target, where: string): Promise<Result> {
    const c = this.deps.config;
    let settings;
    try {
      settings = policySettings(server, c);
    } catch (err) {
      this.deps.log.warn(`check_policy_service: ${(err as Error).message}`);
      return { reply: this.tempfail(t, 'Server configuration error') };
    }
    if (!this.deps.policy) return { reply: this.tempfail(t, 'Server configuration error') };
    const attrs = policyRequest(this.state, { stage: t.stage, recipient: t.recipient, size: this.messageSize, settings, config: c });
    const action = await this.deps.policy.query(settings, attrs);
    return this.accessAction(action, t, t.replyName, t.replyClass, where);
  }

  /** permit_auth_destination: our final destinations and relay_domains (not user@domain@domain routing). */
  private authDestination(res: ResolveResult): boolean {
    if (res.flags.includes('error') || res.flags.includes('fail')) return false;
    if (res.class === 'default') return false;
    if (res.class === 'relay' && res.flags.includes('routed')) return false;
    return true;
  }

  private resolve(addr: string): Promise<ResolveResult> {
    const key = addr.toLowerCase();
    let p = this.resolved.get(key);
    if (!p) {
      p = this.deps.rewrite.resolve(addr, this.state.sender);
      this.resolved.set(key, p);
      p.catch(() => this.resolved.delete(key));
    }
    return p;
  }

  /** reject_unlisted_recipient / reject_unlisted_sender (smtpd_check.c check_rcpt_maps). */
  private async unlisted(addr: string, cls: string, t: Target): Promise<Result> {
    if (addr === '') return 'dunno';
    if (cls === RECIPIENT && this.deps.transp?.has('no_unknown_recipient_checks')) return 'dunno';
    const c = this.deps.config;
    let res: ResolveResult;
    try {
      res = await this.resolve(addr);
    } catch {
      return this.reject(t, 451, '4.3.0', `<${addr}>: Temporary lookup failure`);
    }
    const dsn = cls === SENDER ? '5.1.0' : '5.1.1';
    // An address that a canonical or virtual alias map lists is valid whatever its class: cleanup
    // rewrites it before delivery (check_rcpt_maps, LOCAL_RECIPIENT_README).
    const rewriting = [
      c.get('recipient_canonical_maps'),
      cls === SENDER ? c.get('sender_canonical_maps') : '',
      c.get('canonical_maps'),
      c.get('virtual_alias_maps'),
    ].filter((v) => v.trim() !== '');
    if (rewriting.length > 0) {
      const keys = this.mailAddrKeys(res.recipient || addr, res.class === 'local');
      try {
        for (const spec of rewriting) if (await this.lookupAny(spec, keys, false)) return 'dunno';
      } catch (err) {
        this.deps.log.warn(`address rewriting lookup error for "${addr}": ${(err as Error).message}`);
        return this.reject(t, 451, '4.3.0', `<${addr}>: Temporary lookup failure`);
      }
    }
    let param: string;
    let code: string;
    let what: string;
    switch (res.class) {
      case 'local':
        param = 'local_recipient_maps';
        code = 'unknown_local_recipient_reject_code';
        what = 'local recipient table';
        break;
      case 'virtual_alias':
        param = 'virtual_alias_maps';
        code = 'unknown_virtual_alias_reject_code';
        what = 'virtual alias table';
        break;
      case 'virtual_mailbox':
        param = 'virtual_mailbox_maps';
        code = 'unknown_virtual_mailbox_reject_code';
        what = 'virtual mailbox table';
        break;
      case 'relay':
        param = 'relay_recipient_maps';
        code = 'unknown_relay_recipient_reject_code';
        what = 'relay recipient table';
        break;
      default:
        return 'dunno';
    }
    const value = c.get(param).trim();
    if (value === '') return 'dunno';
    if (param === 'virtual_alias_maps') return this.reject(t, c.int(code) || 550, dsn, `<${addr}>: ${cls} rejected: User unknown in ${what}`);
    const keys = this.addressKeys(addr, res.class === 'local');
    try {
      if (await this.lookupAny(value, keys, false)) return 'dunno';
    } catch (err) {
      this.deps.log.warn(`${param} lookup error for "${addr}": ${(err as Error).message}`);
      return this.reject(t, 451, '4.3.0', `<${addr}>: Temporary lookup failure`);
    }
    return this.reject(t, c.int(code) || 550, dsn, `<${addr}>: ${cls} rejected: User unknown in ${what}`);
  }

  /** The implicit smtpd_reject_unlisted_sender check. */
  private async unlistedSender(sender: string, recipient?: string): Promise<Result> {
    if (!this.deps.config.bool('smtpd_reject_unlisted_sender') || !sender) return 'dunno';
    return this.unlisted(sender, SENDER, { replyName: sender, replyClass: SENDER, stage: recipient ? 'rcpt' : 'mail', recipient });
  }

  private async unknownDomain(addr: string, cls: string, sub: string, t: Target): Promise<Result> {
    const domain = domainOf(addr);
    if (!domain || isAddressLiteral(domain)) return 'dunno';
    try {
      const res = await this.resolve(addr);
      if (res.class !== 'default') return 'dunno';
    } catch {
      return 'dunno';
    }
    const code = this.deps.config.int('unknown_address_reject_code');
    for (const type of ['MX', 'A', 'AAAA'] as const) {
      try {
        const r = (await dnsResolve(domain, type)) as unknown[];
        if (r.length > 0) return 'dunno';
      } catch (err) {
        const e = (err as NodeJS.ErrnoException).code;
        if (e !== 'ENOTFOUND' && e !== 'ENODATA') {
          return this.reject(t, 450, `4.${sub}`, `<${addr}>: ${cls} rejected: Domain not found`);
        }
      }
    }
    return this.reject(t, code, `${String(code)[0]}.${sub}`, `<${addr}>: ${cls} rejected: Domain not found`);
  }

  // ---- access tables ----------------------------------------------------------

  private tablesOf(spec: string): LookupTable[] {
    let list = this.tableCache.get(spec);
    if (!list) {
      if (!this.deps.tables) throw new Error(`no table registry to open ${spec}`);
      list = this.deps.tables.openList(spec);
      this.tableCache.set(spec, list);
    }
    return list;
  }

  /** The first value found for `keys` (pattern tables see only the first key). */
  private async lookupAny(spec: string, keys: readonly string[], _partial: boolean): Promise<string | undefined> {
    for (const table of this.tablesOf(spec)) {
      const ks = table.pattern ? keys.slice(0, 1) : keys;
      for (const k of ks) {
        const v = await table.lookup(k);
        if (v !== undefined) return v;
      }
    }
    return undefined;
  }

  private async access(spec: string, keys: readonly string[], t: Target, name: string, cls: string, where: string): Promise<Result> {
    let value: string | undefined;
    try {
      value = await this.lookupAny(spec, keys, true);
    } catch (err) {
      this.deps.log.warn(`${spec}: table lookup problem: ${(err as Error).message}`);
      return this.reject(t, 451, '4.3.0', `<${name}>: Temporary lookup failure`);
    }
    if (value === undefined) return 'dunno';
    return this.accessAction(value, t, name, cls, where);
  }

  /** access(5) actions. */
  private async accessAction(value: string, t: Target, name: string, cls: string, where: string): Promise<Result> {
    const c = this.deps.config;
    const m = /^(\S+)\s*(.*)$/s.exec(value.trim());
    const word = (m?.[1] ?? '').toUpperCase();
    const rest = (m?.[2] ?? '').trim();
    const target: Target = { ...t, replyName: name, replyClass: cls };
    if (word === 'DUNNO') return 'dunno';
    if (word === 'REJECT' || word === 'DEFER') {
      const d = dsnSplit(word === 'REJECT' ? '5.7.1' : '4.7.1', rest);
      const code = c.int(word === 'REJECT' ? 'access_map_reject_code' : 'access_map_defer_code');
      return this.reject(target, code, d.dsn, `<${name}>: ${cls} rejected: ${d.text || 'Access denied'}`);
    }
    if (word === 'DEFER_IF_PERMIT') {
      const d = dsnSplit('4.7.1', rest);
      this.deferIfPermitSet(target, `<${name}>: ${cls} rejected: ${d.text || 'Service unavailable'}`, d.dsn);
      return 'dunno';
    }
    if (word === 'DEFER_IF_REJECT') {
      this.deferIfReject = true;
      return 'dunno';
    }
    const num = /^([45])\d\d$/.exec(word);
    if (num && /^\d{3}\s/.test(value.trim())) {
      const code = Number(word);
      const d = /^([245]\.\d{1,3}\.\d{1,3})\s+(.*)$/s.exec(rest);
      const dsn = d ? d[1]! : `${num[1]}.7.1`;
      const text = d ? d[2]! : rest || 'Access denied';
      return this.reject(target, code, dsn, `<${name}>: ${cls} rejected: ${text}`);
    }
    if (word === 'OK' || /^\d+$/.test(value.trim())) return 'ok';
    return this.verdict(this.actionVerdict(word, rest), target, () => this.generic(value.split(/[\s,]+/).filter(Boolean), t, where));
  }

  private actionVerdict(word: string, rest: string): SmtpdVerdict | undefined {
    switch (word) {
      case 'HOLD':
        return { action: 'hold', text: rest };
      case 'DISCARD':
        return { action: 'discard', text: rest };
      case 'FILTER':
        return { action: 'filter', text: rest };
      case 'REDIRECT':
        return { action: 'redirect', text: rest };
      case 'PREPEND':
        return { action: 'prepend', text: rest };
      case 'WARN':
      case 'INFO':
        return { action: 'warn', text: rest };
      default:
        return undefined;
    }
  }

  /** Applies a plain-data verdict (plugins, and access actions other than reply codes). */
  private verdict(v: SmtpdVerdict | undefined, t: Target, otherwise?: () => Promise<Result>): Result | Promise<Result> {
    if (!v) return otherwise ? otherwise() : 'dunno';
    const c = this.deps.config;
    const s = this.state;
    const text = v.text ?? '';
    switch (v.action) {
      case 'permit':
        return 'ok';
      case 'dunno':
        return 'dunno';
      case 'reject':
        return this.reject(t, v.code ?? c.int('access_map_reject_code'), v.dsn ?? '5.7.1', text ? `<${t.replyName}>: ${t.replyClass} rejected: ${text}` : `<${t.replyName}>: ${t.replyClass} rejected: Access denied`);
      case 'defer':
        return this.reject(t, v.code ?? c.int('access_map_defer_code'), v.dsn ?? '4.7.1', `<${t.replyName}>: ${t.replyClass} rejected: ${text || 'Access denied'}`);
      case 'defer_if_permit':
        this.deferIfPermitSet(t, `<${t.replyName}>: ${t.replyClass} rejected: ${text || 'Service unavailable'}`);
        return 'dunno';
      case 'defer_if_reject':
        this.deferIfReject = true;
        return 'dunno';
      case 'hold':
        s.hold = text || 'hold';
        this.logAction('hold', `<${t.replyName}>: ${t.replyClass} triggers HOLD action${text ? ` ${text}` : ''}`, t);
        return 'dunno';
      case 'discard':
        s.discard = text || 'discard';
        this.logAction('discard', `<${t.replyName}>: ${t.replyClass} triggers DISCARD action${text ? ` ${text}` : ''}`, t);
        return 'ok';
      case 'filter':
        if (!text.includes(':')) {
          this.deps.log.warn(`access table FILTER action without transport:destination: "${text}"`);
          return 'dunno';
        }
        s.filter = text;
        this.logAction('filter', `<${t.replyName}>: ${t.replyClass} triggers FILTER ${text}`, t);
        return 'dunno';
      case 'redirect':
        s.redirect = text;
        this.logAction('redirect', `<${t.replyName}>: ${t.replyClass} triggers REDIRECT ${text}`, t);
        return 'dunno';
      case 'prepend':
        if (/^[\x21-\x39\x3b-\x7e]+:/.test(text)) s.prepend.push(text);
        else this.deps.log.warn(`access table PREPEND action with bad header: "${text}"`);
        return 'dunno';
      case 'warn':
        this.logAction('warn', `<${t.replyName}>: ${text}`, t);
        return 'dunno';
    }
  }

  // ---- replies and logging -------------------------------------------------------

  private deferIfPermitSet(t: Target, text: string, dsn = '4.7.1'): void {
    if (!this.state.deferIfPermit) {
      this.state.deferIfPermit = { code: this.deps.config.int('defer_code'), dsn: dsnFix(450, dsn), text, where: t.stage };
    }
  }

  /** smtpd_check_reject: defer_if_reject and warn_if_reject, the log line, then throw. */
  private reject(t: Target, code: number, dsn: string, text: string): never {
    let c = code;
    let d = dsn;
    if (this.deferIfReject && c >= 500) {
      c = this.deps.config.int('defer_code');
      d = `4${d.slice(1)}`;
    }
    // soft_bounce: 5XX becomes 4XX (smtpd_check_reject)
    if (c >= 500 && c < 600 && this.deps.config.bool('soft_bounce')) {
      c -= 100;
      d = `4${d.slice(1)}`;
    }
    const reply = `${c} ${dsnFix(c, d)} ${text}`;
    if (this.warnIfReject) {
      this.warnIfReject = false;
      this.logAction('reject_warning', reply, t);
      throw new Dunno();
    }
    this.logAction('reject', reply, t);
    throw new Reject(reply);
  }

  private tempfail(t: Target, why: string): string {
    const reply = `451 4.3.5 ${why}`;
    this.logAction('reject', reply, t);
    return reply;
  }

  /** "NOQUEUE: reject: RCPT from name[addr]: 554 5.7.1 <x>: Relay access denied; from=<s> to=<r> proto=ESMTP helo=<h>" */
  logAction(action: string, text: string, t: { stage: SmtpdStage; recipient?: string }): void {
    const s = this.state;
    const where = s.where;
    let line = `${s.queueId ?? 'NOQUEUE'}: ${action}: ${where} from ${s.namaddr}: ${text};`;
    if (s.sender !== undefined) line += ` from=<${s.sender}>`;
    if (t.recipient !== undefined) line += ` to=<${t.recipient}>`;
    line += ` proto=${s.protocol}`;
    if (s.helo !== undefined) line += ` helo=<${s.helo}>`;
    this.deps.log.info(line);
  }

  // ---- lookup keys -----------------------------------------------------------------

  /** check_client_access keys: the name and its parents (unless "unknown"), then the address keys. */
  private clientKeys(name = this.state.name): string[] {
    return [...(name !== 'unknown' ? this.domainKeys(name) : []), ...hostAddressKeys(this.state.address)];
  }

  private domainKeys(host: string): string[] {
    const h = host.toLowerCase().replace(/\.$/, '');
    const keys = [h];
    const labels = h.split('.');
    for (let i = 1; i < labels.length; i++) keys.push(labels.slice(i).join('.'), `.${labels.slice(i).join('.')}`);
    return keys;
  }

  /** mail_addr_find-style keys: user+ext@domain, user@domain, domain (and parents), user+ext@, user@ (and user for local). */
  addressKeys(addr: string, localOnly = false): string[] {
    const a = addr.toLowerCase();
    const at = a.lastIndexOf('@');
    const user = at < 0 ? a : a.slice(0, at);
    const domain = at < 0 ? '' : a.slice(at + 1);
    const delim = this.deps.config.get('recipient_delimiter');
    const keys: string[] = [];
    const base = delim ? this.stripExtension(user, delim) : user;
    if (localOnly) {
      keys.push(user);
      if (base !== user) keys.push(base);
      return [...new Set(keys)];
    }
    if (domain) {
      keys.push(`${user}@${domain}`);
      if (base !== user) keys.push(`${base}@${domain}`);
      keys.push(...this.domainKeys(domain));
      keys.push(`${user}@`);
      if (base !== user) keys.push(`${base}@`);
    } else {
      keys.push(user);
      if (base !== user) keys.push(base);
    }
    return [...new Set(keys)];
  }

  /** mail_addr_find(3) keys: user+ext@domain, user@domain, then (local domains) user+ext, user, then @domain. */
  mailAddrKeys(addr: string, local: boolean): string[] {
    const a = addr.toLowerCase();
    const at = a.lastIndexOf('@');
    const user = at < 0 ? a : a.slice(0, at);
    const domain = at < 0 ? '' : a.slice(at + 1);
    const delim = this.deps.config.get('recipient_delimiter');
    const base = delim ? this.stripExtension(user, delim) : user;
    const keys = domain ? [`${user}@${domain}`, `${base}@${domain}`] : [];
    if (local || !domain) keys.push(user, base);
    if (domain) keys.push(`@${domain}`);
    return [...new Set(keys)];
  }

  private stripExtension(user: string, delims: string): string {
    for (let i = 0; i < user.length; i++) if (delims.includes(user[i]!)) return i > 0 ? user.slice(0, i) : user;
    return user;
  }
}

/** warn_if_reject turned a reject into a warning: carry on with the list. */
class Dunno {}

/** check_addr_access keys: the address, then its networks with the last octets (IPv6: groups) stripped. */
function hostAddressKeys(address: string): string[] {
  const keys = [address];
  const sep = address.includes(':') ? ':' : '.';
  const parts = address.split(sep);
  for (let n = parts.length - 1; n > 0; n--) {
    const p = parts.slice(0, n).join(sep);
    if (p) keys.push(p);
  }
  return keys;
}

/** own_inet_addr(): the addresses of inet_interfaces ("all": every interface's). */
function ownInetAddresses(config: ConfigView): Set<string> {
  const out = new Set<string>();
  for (const iface of config.list('inet_interfaces')) {
    const v = iface.toLowerCase().replace(/^\[|\]$/g, '');
    if (v === 'all') for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) out.add(a.address.toLowerCase());
    else if (v === 'loopback-only') ['127.0.0.1', '::1'].forEach((a) => out.add(a));
    else out.add(v);
  }
  return out;
}
