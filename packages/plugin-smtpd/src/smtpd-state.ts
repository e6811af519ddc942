/**
 * One SMTP session's state (Postfix's SMTPD_STATE): the client, the
 * transaction, the per-command counters for the disconnect log line, and the
 * restriction side effects (defer_if_permit, hold, filter, prepend ...).
 */
import type { PeerCertificate } from './smtpd-ccert.js';
import type { XforwardAttrs } from './smtpd-xforward.js';
import type { DsnNotify, DsnRet } from '@postern/core';

export interface SmtpdRecipient {
  readonly address: string;
  readonly notify?: DsnNotify[];
  readonly orcpt?: string;
}

/** Counter per command, in Postfix's order for "disconnect from ..." lines. */
export const COMMAND_ORDER = [
  'helo', 'ehlo', 'lhlo', 'xclient', 'xforward', 'starttls', 'auth', 'mail', 'rcpt', 'data', 'bdat',
  'rset', 'noop', 'vrfy', 'etrn', 'quit', 'unknown',
] as const;

export interface SmtpdState {
  /** "name" (or "unknown"), address, port, "name[addr]" and Received's "[addr]" form. */
  name: string;
  address: string;
  port: number;
  namaddr: string;
  /** The client's reverse (PTR) name, not forward-confirmed ("unknown" when none): Postfix's reverse_client_name. */
  reverseName: string;
  /** Whether a missing name (or reverse name) is a temporary DNS failure (Postfix SMTPD_PEER_CODE_TEMP: answered 450). */
  nameTempfail?: boolean;
  reverseTempfail?: boolean;
  rfcAddr: string;
  localAddress: string;
  localPort: number;
  helo?: string;
  /** SMTP / ESMTP, or LMTP (postern_smtpd_protocol = lmtp). */
  protocol: 'SMTP' | 'ESMTP' | 'LMTP';
  ehloPipelining: boolean;
  encrypted: boolean;
  tls?: { protocol: string; cipher: string; bits: number; peer?: PeerCertificate };
  /** XFORWARD attributes of the original client (until the end of the mail transaction). */
  xforward?: XforwardAttrs;
  saslUsername?: string;
  saslMethod?: string;
  /** Set when the connect-time check (smtpd_delay_reject = no) rejected the client. */
  accessDenied?: string;
  /** What the session is doing, for "lost connection after X" / "timeout after X". */
  where: string;
  // transaction
  sender?: string;
  senderSaslAuth?: string;
  sizeAnnounced?: number;
  bodyType?: '7BIT' | '8BITMIME';
  smtputf8: boolean;
  dsnRet?: DsnRet;
  dsnEnvid?: string;
  recipients: SmtpdRecipient[];
  /** Recipient count including rejected ones (for the recipient limit). */
  rcptAttempts: number;
  queueId?: string;
  // restriction side effects for this transaction
  deferIfPermit?: { code: number; dsn: string; text: string; where: string };
  hold?: string;
  discard?: string;
  filter?: string;
  redirect?: string;
  prepend: string[];
  /** The policy-delegation instance attribute: one per mail transaction. */
  policyInstance?: string;
  // counters
  errorCount: number;
  junkCommands: number;
  counts: Map<string, { ok: number; total: number }>;
  /** Set when the client sent a command while a reply was still due and had not negotiated PIPELINING. */
  illegalPipelining?: string;
}

export function newState(init: {
  name: string;
  address: string;
  port: number;
  localAddress: string;
  localPort: number;
  portLogging: boolean;
}): SmtpdState {
  const namaddr = init.portLogging ? `${init.name}[${init.address}]:${init.port}` : `${init.name}[${init.address}]`;
  const rfcAddr = init.address.includes(':') ? `IPv6:${init.address}` : init.address;
  return {
    name: init.name,
    reverseName: init.name,
    address: init.address,
    port: init.port,
    namaddr,
    rfcAddr,
    localAddress: init.localAddress,
    localPort: init.localPort,
    protocol: 'SMTP',
    ehloPipelining: false,
    encrypted: false,
    where: 'CONNECT',
    smtputf8: false,
    recipients: [],
    rcptAttempts: 0,
    prepend: [],
    errorCount: 0,
    junkCommands: 0,
    counts: new Map(),
  };
}

/** Forgets the mail transaction (RSET, after DATA, HELO/EHLO). */
export function resetTransaction(state: SmtpdState): void {
  state.sender = undefined;
  state.senderSaslAuth = undefined;
  state.sizeAnnounced = undefined;
  state.bodyType = undefined;
  state.smtputf8 = false;
  state.dsnRet = undefined;
  state.dsnEnvid = undefined;
  state.recipients = [];
  state.rcptAttempts = 0;
  state.queueId = undefined;
  state.deferIfPermit = undefined;
  state.hold = undefined;
  state.discard = undefined;
  state.filter = undefined;
  state.redirect = undefined;
  state.prepend = [];
  state.policyInstance = undefined;
  state.xforward = undefined;
}

export function countCommand(state: SmtpdState, name: string, ok: boolean): void {
  const c = state.counts.get(name) ?? { ok: 0, total: 0 };
  c.total++;
  if (ok) c.ok++;
  state.counts.set(name, c);
}

/** " ehlo=1 mail=1 rcpt=0/1 quit=1 commands=3/4", as smtpd.c's disconnect line. */
export function formatCounts(state: SmtpdState): string {
  let ok = 0;
  let total = 0;
  const parts: string[] = [];
  for (const name of COMMAND_ORDER) {
    const c = state.counts.get(name);
    if (!c || c.total === 0) continue;
    ok += c.ok;
    total += c.total;
    parts.push(c.ok === c.total ? `${name}=${c.ok}` : `${name}=${c.ok}/${c.total}`);
  }
  parts.push(ok === total ? `commands=${ok}` : `commands=${ok}/${total}`);
  return parts.join(' ');
}
