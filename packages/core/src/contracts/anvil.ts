/**
 * anvil(8) as a contract: Postfix's connection count and rate limiting
 * server (anvil_clnt.c). It counts, per remote client, concurrent
 * connections and the rates of connections, messages, recipients, new TLS
 * sessions and AUTH requests within anvil_rate_time_unit; the caller (smtpd)
 * compares the answers with its own limits:
 *
 * - smtpd_client_connection_count_limit (50): `connect().count` above it
 *   refuses the connection (421 4.7.0, see {@link anvilLimitReply}).
 * - smtpd_client_connection_rate_limit (0 = off): `connect().rate` above it.
 * - smtpd_client_message_rate_limit (0 = off): `message().rate` at MAIL FROM.
 * - smtpd_client_recipient_rate_limit (0 = off): `recipient().rate` at RCPT TO.
 * - smtpd_client_new_tls_session_rate_limit (0 = off): `newtls().rate` at STARTTLS.
 * - smtpd_client_auth_rate_limit (0 = off): `auth().rate` at AUTH.
 * - smtpd_client_event_limit_exceptions ($mynetworks): clients never counted.
 *
 * Every request names a service (the master.cf service name, "smtp") and a
 * client (its address, "127.0.0.1"); anvil's key is "service:client"
 * (anvil_clnt_ident), which is what its statistics lines show.
 *
 * The remote stub never throws: when anvil cannot be reached it answers
 * status "fail" with zero counts, which no limit exceeds; Postfix's smtpd
 * likewise applies no limits while anvil is down.
 */
import type { ServiceContext, ServiceInstance } from './service.js';
import { token } from './token.js';
import { SERVICE } from '../protocol/services.js';
import type { ServiceClients } from '../service/clients.js';
import { serveIpc } from '../service/serve.js';
import type { IpcClient } from '../ipc/client.js';
import type { IpcServer } from '../ipc/server.js';

/** ANVIL_STAT_OK, or ANVIL_STAT_FAIL (unreachable or failing anvil: apply no limits). */
export type AnvilStatus = 'ok' | 'fail';

/** The answer to connect: concurrent connections and the connection rate, this one included. */
export interface AnvilConnect {
  readonly status: AnvilStatus;
  readonly count: number;
  readonly rate: number;
}

/** The answer to message, recipient, newtls, newtlsReport and auth: the event's rate in this time unit. */
export interface AnvilRate {
  readonly status: AnvilStatus;
  readonly rate: number;
}

/** ANVIL_REQ_LOOKUP: everything anvil holds for one client (zeros when it holds nothing). */
export interface AnvilLookup {
  readonly status: AnvilStatus;
  readonly count: number;
  readonly rate: number;
  readonly message: number;
  readonly recipient: number;
  readonly newtls: number;
  readonly auth: number;
}

export interface AnvilService {
  /** ANVIL_REQ_CONN: a client connected; the new count and connection rate. */
  connect(service: string, client: string): Promise<AnvilConnect>;
  /** ANVIL_REQ_DISC: a client disconnected. */
  disconnect(service: string, client: string): Promise<AnvilStatus>;
  /** ANVIL_REQ_MAIL: a MAIL FROM; the message rate. */
  message(service: string, client: string): Promise<AnvilRate>;
  /** ANVIL_REQ_RCPT: an RCPT TO; the recipient rate. */
  recipient(service: string, client: string): Promise<AnvilRate>;
  /** ANVIL_REQ_NTLS: a new (not resumed) TLS session; the newtls rate. */
  newtls(service: string, client: string): Promise<AnvilRate>;
  /** ANVIL_REQ_NTLS_STAT: the newtls rate without counting an event. */
  newtlsReport(service: string, client: string): Promise<AnvilRate>;
  /** ANVIL_REQ_AUTH: an AUTH request; the AUTH rate. */
  auth(service: string, client: string): Promise<AnvilRate>;
  /** ANVIL_REQ_LOOKUP: the client's counters, for tests and tools. */
  lookup(service: string, client: string): Promise<AnvilLookup>;
}

export const ANVIL = token<AnvilService>('AnvilService');

/** Request names on the wire (Postfix's ANVIL_REQ_* strings). */
export const ANVIL_METHOD = {
  CONNECT: 'connect',
  DISCONNECT: 'disconnect',
  MESSAGE: 'message',
  RECIPIENT: 'recipient',
  NEWTLS: 'newtls',
  NEWTLS_REPORT: 'newtls_report',
  AUTH: 'auth',
  LOOKUP: 'lookup',
} as const;

/** anvil_clnt_ident(): the key anvil counts under, "smtp:127.0.0.1". */
export function anvilIdent(service: string, client: string): string {
  return `${service}:${client}`;
}

/** The limits smtpd checks with anvil's answers, and what it says when one is exceeded. */
export type AnvilLimitKind = 'count' | 'rate' | 'message' | 'recipient' | 'newtls' | 'auth';

/**
 * smtpd's reply and warning when `value` exceeds `limit` (limit 0 = no limit),
 * or null: the texts of Postfix's smtpd.c (client address `addr`, its
 * name[address] `namaddr` for the warnings, service `service`). `newtls` is
 * the check after a handshake (421, then smtpd hangs up); `starttls` the one
 * before it (454, STARTTLS refused).
 */
export function anvilLimitReply(
  kind: AnvilLimitKind | 'starttls',
  value: number,
  limit: number,
  addr: string,
  service: string,
  myhostname: string,
  namaddr: string = addr,
): { readonly reply: string; readonly warning: string } | null {
  if (limit <= 0 || value <= limit) return null;
  const from = `${value} from ${namaddr} for service ${service}`;
  switch (kind) {
    case 'count':
      return { reply: `421 4.7.0 ${myhostname} Error: too many connections from ${addr}`, warning: `Connection concurrency limit exceeded: ${from}` };
    case 'rate':
      return { reply: `421 4.7.0 ${myhostname} Error: too many connections from ${addr}`, warning: `Connection rate limit exceeded: ${from}` };
    case 'message':
      return { reply: `450 4.7.1 Error: too much mail from ${addr}`, warning: `Message delivery request rate limit exceeded: ${from}` };
    case 'recipient':
      return { reply: `450 4.7.1 Error: too many recipients from ${addr}`, warning: `Recipient address rate limit exceeded: ${from}` };
    case 'newtls':
      return { reply: `421 4.7.0 ${myhostname} Error: too many new TLS sessions from ${namaddr}`, warning: `New TLS session rate limit exceeded: ${from}` };
    case 'starttls':
      return { reply: `454 4.7.0 Error: too many new TLS sessions from ${namaddr}`, warning: `Refusing STARTTLS request from ${namaddr} for service ${service}` };
    case 'auth':
      return { reply: `450 4.7.1 Error: too many AUTH commands from ${addr}`, warning: `AUTH command rate limit exceeded: ${from}` };
  }
}

const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? Math.floor(v) : 0);

/** The client side; never throws: an unreachable or failing anvil answers "fail" with zeros (no limits). */
export class RemoteAnvil implements AnvilService {
  constructor(private readonly client: IpcClient) {}

  private async ask(method: string, service: string, client: string): Promise<Record<string, unknown> | null> {
    try {
      const answer = await this.client.call<Record<string, unknown> | null>(method, { ident: anvilIdent(service, client) });
      return answer && typeof answer === 'object' && answer.status === 'ok' ? answer : null;
    } catch {
      return null;
    }
  }
  private async rate(method: string, service: string, client: string): Promise<AnvilRate> {
    const a = await this.ask(method, service, client);
    return a ? { status: 'ok', rate: num(a.rate) } : { status: 'fail', rate: 0 };
  }

  async connect(service: string, client: string): Promise<AnvilConnect> {
    const a = await this.ask(ANVIL_METHOD.CONNECT, service, client);
    return a ? { status: 'ok', count: num(a.count), rate: num(a.rate) } : { status: 'fail', count: 0, rate: 0 };
  }
  async disconnect(service: string, client: string): Promise<AnvilStatus> {
    return (await this.ask(ANVIL_METHOD.DISCONNECT, service, client)) ? 'ok' : 'fail';
  }
  message(service: string, client: string): Promise<AnvilRate> {
    return this.rate(ANVIL_METHOD.MESSAGE, service, client);
  }
  recipient(service: string, client: string): Promise<AnvilRate> {
    return this.rate(ANVIL_METHOD.RECIPIENT, service, client);
  }
  newtls(service: string, client: string): Promise<AnvilRate> {
    return this.rate(ANVIL_METHOD.NEWTLS, service, client);
  }
  newtlsReport(service: string, client: string): Promise<AnvilRate> {
    return this.rate(ANVIL_METHOD.NEWTLS_REPORT, service, client);
  }
  auth(service: string, client: string): Promise<AnvilRate> {
    return this.rate(ANVIL_METHOD.AUTH, service, client);
  }
  async lookup(service: string, client: string): Promise<AnvilLookup> {
    const a = await this.ask(ANVIL_METHOD.LOOKUP, service, client);
    if (!a) return { status: 'fail', count: 0, rate: 0, message: 0, recipient: 0, newtls: 0, auth: 0 };
    return {
      status: 'ok',
      count: num(a.count),
      rate: num(a.rate),
      message: num(a.message),
      recipient: num(a.recipient),
      newtls: num(a.newtls),
      auth: num(a.auth),
    };
  }
}

/** anvil's remote stub, over the private/anvil socket. */
export const anvilClient = (clients: ServiceClients): AnvilService => new RemoteAnvil(clients.client(SERVICE.ANVIL));

/**
 * The server side: anvil keys everything by ident, so the server hands the
 * implementation the ident split back into service and client at the first colon.
 */
export function serveAnvil(ctx: ServiceContext, impl: AnvilService): ServiceInstance & { server: IpcServer } {
  const split = (a: { ident?: unknown } | null): [string, string] => {
    const ident = typeof a?.ident === 'string' ? a.ident : '';
    const colon = ident.indexOf(':');
    return colon < 0 ? ['', ident] : [ident.slice(0, colon), ident.slice(colon + 1)];
  };
  const on = <T>(f: (service: string, client: string) => Promise<T>) => (a: { ident?: unknown } | null) => f(...split(a));
  return serveIpc(ctx, {
    [ANVIL_METHOD.CONNECT]: on((s, c) => impl.connect(s, c)),
    [ANVIL_METHOD.DISCONNECT]: on(async (s, c) => ({ status: await impl.disconnect(s, c) })),
    [ANVIL_METHOD.MESSAGE]: on((s, c) => impl.message(s, c)),
    [ANVIL_METHOD.RECIPIENT]: on((s, c) => impl.recipient(s, c)),
    [ANVIL_METHOD.NEWTLS]: on((s, c) => impl.newtls(s, c)),
    [ANVIL_METHOD.NEWTLS_REPORT]: on((s, c) => impl.newtlsReport(s, c)),
    [ANVIL_METHOD.AUTH]: on((s, c) => impl.auth(s, c)),
    [ANVIL_METHOD.LOOKUP]: on((s, c) => impl.lookup(s, c)),
  });
}
