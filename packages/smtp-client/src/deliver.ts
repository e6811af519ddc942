/**
 * The delivery loop shared by smtp(8) and lmtp(8) (Postfix's smtp.c,
 * smtp_connect.c: smtp_connect_remote / smtp_connect_local, smtp_proto.c and
 * smtp_rcpt.c): for each next-hop (then smtp_fallback_relay), for each
 * server (smtp_mx_address_limit addresses, smtp_mx_session_limit sessions),
 * take a cached session or open one, run one transaction, and record each
 * recipient's outcome:
 *
 *   2XX  sent (the reply is the reason: "250 2.0.0 Ok: queued as X")
 *   5XX  bounced ("host X[a] said: 550 ... (in reply to RCPT TO command)")
 *   4XX  kept for the next server; deferred when this was the last one
 *
 * A server that cannot be reached, greets with 4XX (or 5XX, with
 * smtp_skip_5xx_greeting), times out or drops the connection is skipped;
 * when every server failed that way the destination is reported down to
 * qmgr (agent.destinationDown()). After a transaction the session is reset
 * and parked in the connection cache for the next request to the same
 * destination; conn_use counts the transactions a session carried.
 */
import type { ConfigView } from '@postern/core';
import { isTraceOnly, type DeliveryRequest, type RecipientResult } from '@postern/core';
import type { Logger } from '@postern/core';
import type { NameResolver, HostLookupMethod } from '@postern/core';
import type { TableRegistry } from '@postern/core';
import type { AgentContext, DeliverFunction, MessageSource } from '@postern/core';
import { InProcessSessionCache, type SessionCache } from './cache.js';
import { lookupServers, staticResolver, systemResolver, type ServerAddress } from './dns.js';
import { genericMapper, type GenericMapper } from './generic.js';
import { downgrade8bit, has8bit } from './mime8bit.js';
import { applyHeaderBodyChecks, openHeaderBodyChecks } from './hbc.js';
import { parseDestination, servicePort, splitDestinations, type Destination } from './nexthop.js';
import { clientSettings, type ClientProtocol, type ClientSettings } from './params.js';
import { saidText, softDsn, type SmtpReply } from './reply.js';
import { chooseMechanism, saslCredentials } from './sasl.js';
import { ClientSession, SessionError, type SessionHandover, type SessionOptions } from './session.js';
import { CIPHERLIST_PARAMETERS } from './tls-openssl.js';
import { tlsConnectOptions, tlsPolicy, tlsSummary, tlsTrust, type TlsPolicy, type TlsSettings, type TlsFileContents } from './tls.js';
import { saveTlsSession, tlsClientSessionId, type TlsSessionCache } from './tls-cache.js';

/** A recipient result with conn_use (logged by the skeleton when it supports it). */
export type ClientRecipientResult = RecipientResult & { readonly connUse?: number };

export interface ClientStats {
  /** Connections opened. */
  readonly connections: number;
  /** Transactions (messages) completed. */
  readonly transactions: number;
  /** Transactions that ran on a reused (cached) session. */
  readonly reused: number;
}

export interface SmtpClientOptions {
  readonly protocol: ClientProtocol;
  readonly config: ConfigView;
  readonly log: Logger;
  readonly tables: TableRegistry;
  /** Default: the static resolver maps in front of the system resolver. */
  readonly resolver?: NameResolver;
  /** Default: an InProcessSessionCache. */
  readonly cache?: SessionCache<ClientSession>;
  /** TLS session resumption: tlsSessionCache(clients, protocol) in a service process. */
  readonly tlsCache: TlsSessionCache;
  /** The TLS files read before the privilege drop (clientPreInit); others are read at the handshake. */
  readonly tlsFiles?: TlsFileContents;
}

export interface SmtpClient {
  readonly deliver: DeliverFunction;
  stats(): ClientStats;
  /** Ends the cached sessions. */
  close(): void;
}

interface Outcome {
  status: 'deferred' | 'bounced';
  dsn: string;
  reason: string;
  relay?: string;
  reply?: SmtpReply;
  host?: string;
}

export function createSmtpClient(options: SmtpClientOptions): SmtpClient {
  const { protocol, config, log, tables } = options;
  const cache = options.cache ?? new InProcessSessionCache<ClientSession>();
  const stats = { connections: 0, transactions: 0, reused: 0 };
  const { tlsCache, tlsFiles } = options;
  let resolver = options.resolver;

  const deliver: DeliverFunction = async (request, message, agent) => {
    const s = clientSettings(config, protocol);
    if (!resolver) {
      const maps = s.get('static_resolver_maps');
      resolver = maps ? staticResolver(tables.openList(maps), systemResolver()) : systemResolver();
    }
    return runDelivery({ s, config, log, tables, resolver, cache, tlsCache, tlsFiles, stats, protocol }, request, message, agent);
  };
  return {
    deliver,
    stats: () => ({ ...stats }),
    close: () => cache.closeAll(),
  };
}

interface Env {
  readonly s: ClientSettings;
  readonly config: ConfigView;
  readonly log: Logger;
  readonly tables: TableRegistry;
  readonly resolver: NameResolver;
  readonly cache: SessionCache<ClientSession>;
  readonly tlsCache: TlsSessionCache;
  readonly tlsFiles: TlsFileContents | undefined;
  readonly stats: { connections: number; transactions: number; reused: number };
  readonly protocol: ClientProtocol;
}

function tlsSettings(env: Env): TlsSettings {
  const { s, tables } = env;
  const policy = s.get('tls_policy_maps');
  return {
    level: s.get('tls_security_level'),
    verifyMatch: s.list('tls_verify_cert_match'),
    secureMatch: s.list('tls_secure_cert_match'),
    protocols: s.get('tls_protocols'),
    mandatoryProtocols: s.get('tls_mandatory_protocols'),
    ciphers: s.get('tls_ciphers'),
    mandatoryCiphers: s.get('tls_mandatory_ciphers'),
    excludeCiphers: s.get('tls_exclude_ciphers'),
    mandatoryExcludeCiphers: s.get('tls_mandatory_exclude_ciphers'),
    cipherlist: (name) => cipherlistValue(env.config, name),
    caFile: s.get('tls_CAfile'),
    caPath: s.get('tls_CApath'),
    certFile: s.get('tls_cert_file'),
    keyFile: s.get('tls_key_file'),
    policyTables: policy ? tables.openList(policy) : [],
    ...(env.tlsFiles && { files: env.tlsFiles }),
  };
}

/** tls_<grade>_cipherlist, with Postfix's default where no installed package declares it. */
function cipherlistValue(config: ConfigView, name: string): string {
  if (config.has(name)) return config.get(name);
  return CIPHERLIST_PARAMETERS.find((p) => p.name === name)?.default ?? '';
}

async function runDelivery(env: Env, request: DeliveryRequest, message: MessageSource, agent: AgentContext): Promise<ClientRecipientResult[]> {
  const { s, config, log } = env;
  const lmtp = env.protocol === 'lmtp';
  const results: ClientRecipientResult[] = [];
  const pending = new Map(request.recipients.map((r) => [r.index, r]));
  const defaultPort = servicePort(s.get('tcp_port')) ?? (lmtp ? 24 : 25);
  const destinations: string[] = [...splitDestinations(request.nexthop)];
  for (const f of s.list('fallback_relay')) if (!destinations.includes(f)) destinations.push(f);

  const genericMaps = s.get('generic_maps');
  const myorigin = config.get('myorigin').toLowerCase();
  const mydest = new Set(config.list('mydestination').map((d) => d.toLowerCase()));
  const mapper: GenericMapper | undefined = genericMaps
    ? genericMapper(env.tables.openList(genericMaps), {
        recipientDelimiter: config.get('recipient_delimiter'),
        isLocalDomain: (d) => d.toLowerCase() === myorigin || mydest.has(d.toLowerCase()),
      })
    : undefined;
  let content: Buffer | undefined;
  const checks = openHeaderBodyChecks(s, (v) => env.tables.openList(v), env.protocol);
  const loadContent = async () => {
    if (content) return content;
    const queued = await message.buffer();
    const mapped = mapper ? await mapper.content(queued) : queued;
    return (content = checks ? await applyHeaderBodyChecks(checks, mapped, log, request.queueId) : mapped);
  };
  const sender = mapper ? await mapper.address(request.sender) : request.sender;
  const rcptAddress = new Map<number, string>();
  for (const r of request.recipients) rcptAddress.set(r.index, mapper ? await mapper.address(r.address) : r.address);

  const tls = tlsSettings(env);
  const dnsLevel = s.get('dns_support_level').toLowerCase();
  const dnsEnabled = dnsLevel ? dnsLevel !== 'disabled' : !config.bool('disable_dns_lookups');
  const hostLookup = s.list('host_lookup').filter((m): m is HostLookupMethod => m === 'dns' || m === 'native');
  const sessionLimit = s.int('mx_session_limit');
  const myhostname = config.get('myhostname');

  let last: Outcome | undefined;
  let anySession = false;
  let sessions = 0;

  const finish = (index: number, r: ClientRecipientResult) => {
    if (!pending.has(index)) return;
    pending.delete(index);
    results.push(r);
  };
  const fromReply = (index: number, reply: SmtpReply, session: ClientSession, said: string, final: boolean): boolean => {
    const common = { relay: session.relay, diagnostic: `smtp; ${reply.text}`, remoteMta: `dns; ${session.peer.replace(/\[.*$/, '')}` };
    if (reply.code >= 200 && reply.code < 300) {
      finish(index, { index, status: 'sent', dsn: reply.dsn.startsWith('2') ? reply.dsn : '2.0.0', reason: reply.text, ...common, connUse: session.uses });
      return true;
    }
    if (reply.code >= 500) {
      finish(index, { index, status: 'bounced', dsn: reply.dsn, reason: said, ...common });
      return true;
    }
    last = { status: 'deferred', dsn: softDsn(reply.dsn), reason: said, relay: session.relay, reply, host: session.peer };
    if (final) finish(index, { index, status: 'deferred', dsn: softDsn(reply.dsn), reason: said, ...common });
    return final;
  };

  outer: for (let di = 0; di < destinations.length && pending.size; di++) {
    const dest = parseDestination(destinations[di]!, defaultPort);
    const lastDest = di === destinations.length - 1;
    if (!dest) {
      last = { status: 'deferred', dsn: '4.3.5', reason: `bad next-hop destination: "${destinations[di]}"` };
      continue;
    }
    let servers: { host: string; address?: string; port?: number; path?: string }[];
    if (dest.kind === 'unix') servers = [{ host: myhostname, path: dest.path }];
    else {
      const list = await lookupServers(
        { resolver: env.resolver, dns: dnsEnabled, hostLookup: hostLookup.length ? hostLookup : ['dns'], addressLimit: s.int('mx_address_limit') },
        dest.host,
        dest.port,
        dest.mx && !lmtp, // lmtp(8) never looks up MX records
      );
      if (list.status !== 'ok') {
        last = { status: list.status === 'notfound' ? 'bounced' : 'deferred', dsn: list.status === 'notfound' ? '5.4.4' : '4.4.3', reason: list.reason };
        continue;
      }
      servers = list.servers.map((x: ServerAddress) => ({ host: x.host, address: x.address, port: x.port }));
    }
    const policy = await tlsPolicy(tls, dest.text, dest.kind === 'inet' ? dest.host : '', dest.kind === 'inet' && dest.mx);
    if ('error' in policy) {
      log.warn(policy.error);
      last = { status: 'deferred', dsn: '4.7.5', reason: 'TLS policy lookup error' };
      continue;
    }
    for (let si = 0; si < servers.length && pending.size; si++) {
      if (agent.signal.aborted) break outer;
      const server = servers[si]!;
      const final = (lastDest && si === servers.length - 1) || (sessionLimit > 0 && sessions + 1 >= sessionLimit && lastDest);
      const cacheKey = `${env.protocol}:${dest.text}`;
      const addrKey = `${env.protocol}:${server.path ?? `${server.address}:${server.port}`}`;
      let session = si === 0 ? env.cache.take(cacheKey, 'dest') : undefined;
      session ??= env.cache.take(addrKey, 'endp');
      // a plaintext session another smtp process parked, handed over through scache and master
      // (never where this delivery's TLS policy requires TLS: only plaintext sessions move)
      if (!session && env.cache.borrow && (policy.level === 'none' || policy.level === 'may')) {
        const handed = await env.cache.borrow(si === 0 ? cacheKey : addrKey, si === 0 ? 'dest' : 'endp');
        if (handed) session = ClientSession.adopt(sessionOptions(env, server), handed.state as SessionHandover, handed.socket);
      }
      const reused = !!session;
      if (!session) {
        const opened = await openSession(env, dest, server, policy, agent.signal);
        if ('failure' in opened) {
          last = opened.failure;
          if (opened.failure.status === 'bounced' && final) break outer;
          continue;
        }
        session = opened.session;
        env.stats.connections++;
      }
      anySession = true;
      sessions++;
      agent.connected();

      // SASL.
      if (!reused && s.bool('sasl_auth_enable')) {
        const pw = s.get('sasl_password_maps');
        const creds = pw ? await saslCredentials(env.tables.openList(pw), server.host, dest.text) : undefined;
        if (creds) {
          const opts = session.secure
            ? session.tlsSocket && policy.level !== 'may' && policy.level !== 'encrypt' && session.tlsSocket.authorized
              ? s.list('sasl_tls_verified_security_options')
              : s.list('sasl_tls_security_options')
            : s.list('sasl_security_options');
          const mech = chooseMechanism(session.authMechanisms, s.list('sasl_mechanism_filter'), opts);
          if (!mech) {
            last = { status: 'deferred', dsn: '4.7.0', reason: `SASL authentication failed; cannot authenticate to server ${session.peer}: no mechanism available`, relay: session.relay };
            session.quit();
            continue;
          }
          try {
            await session.login(creds.user, creds.password, mech);
          } catch (err) {
            const e = err as SessionError;
            last = e.reply
              ? { status: 'deferred', dsn: softDsn(e.reply.dsn), reason: `SASL authentication failed; server ${session.peer} said: ${e.reply.text}`, relay: session.relay }
              : { status: 'deferred', dsn: '4.4.2', reason: e.message, relay: session.relay };
            session.close();
            continue;
          }
        }
      }

      let body: Buffer;
      try {
        body = await loadContent();
      } catch (err) {
        if (!checks) throw err;
        // smtp_header_checks/smtp_body_checks lookup error (logged by hbc.ts): Postfix's SMTP_ERR_DATA
        last = { status: 'deferred', dsn: '4.3.0', reason: `local data error while talking to ${session.peer}`, relay: session.relay };
        session.close();
        break outer;
      }
      const size = body.length;
      // SIZE.
      if (session.extensions.includes('SIZE') && session.sizeLimit > 0 && size > session.sizeLimit) {
        const reason = `message size ${size} exceeds size limit ${session.sizeLimit} of server ${session.peer}`;
        for (const idx of [...pending.keys()]) finish(idx, { index: idx, status: 'bounced', dsn: '5.3.4', reason, relay: session.relay });
        park(env, session, cacheKey, addrKey, policy);
        break outer;
      }
      // SMTPUTF8.
      if (request.smtputf8 && !session.extensions.includes('SMTPUTF8')) {
        const reason = `SMTPUTF8 is required, but was not offered by host ${session.peer}`;
        for (const idx of [...pending.keys()]) finish(idx, { index: idx, status: 'bounced', dsn: '5.6.7', reason, relay: session.relay });
        park(env, session, cacheKey, addrKey, policy);
        break outer;
      }
      // 8BITMIME.
      const eightBit = request.bodyType === '8BITMIME' || has8bit(body);
      let wire = body;
      if (eightBit && !session.extensions.includes('8BITMIME') && !config.bool('disable_mime_output_conversion')) wire = downgrade8bit(body);

      const rcpts = [...pending.values()];
      let outcome;
      try {
        outcome = await session.send(
          {
            sender,
            recipients: rcpts.map((r) => ({
              address: rcptAddress.get(r.index) ?? r.address,
              ...(r.notify && { notify: r.notify }),
              ...(r.orcpt && { orcpt: r.orcpt }),
            })),
            size: wire.length,
            body8bit: eightBit && wire === body,
            smtputf8: request.smtputf8 ?? false,
            ...(request.dsnRet && { ret: request.dsnRet }),
            ...(request.dsnEnvid && { envid: request.dsnEnvid }),
            ...(isTraceOnly(request) && { traceOnly: true }),
            ...(env.s.bool('send_xforward_command') && { xforward: xforwardAttrs(request) }),
          },
          wire,
        );
      } catch (err) {
        const e = err instanceof SessionError ? err : session.translate(err);
        if (e.reply && e.reply.code >= 500) {
          const said = saidText(session.peer, e.reply, e.state);
          for (const r of rcpts) fromReply(r.index, e.reply, session, said, true);
          if (session.usable) await resetAndPark(env, session, cacheKey, addrKey, policy);
          else session.close();
          break outer;
        }
        last = e.reply
          ? { status: 'deferred', dsn: softDsn(e.reply.dsn), reason: saidText(session.peer, e.reply, e.state), relay: session.relay, reply: e.reply, host: session.peer }
          : { status: 'deferred', dsn: '4.4.2', reason: e.message, relay: session.relay };
        if (e.reply && session.usable) await resetAndPark(env, session, cacheKey, addrKey, policy);
        else session.close();
        if (final) break outer;
        continue;
      }
      env.stats.transactions++;
      if (reused) env.stats.reused++;
      rcpts.forEach((r, i) => {
        const { reply, state } = outcome.replies[i]!;
        fromReply(r.index, reply, session!, saidText(session!.peer, reply, state), final);
      });
      await resetAndPark(env, session, cacheKey, addrKey, policy);
    }
  }

  if (pending.size) {
    const o: Outcome = last ?? { status: 'deferred', dsn: '4.4.1', reason: `no server answered for ${request.nexthop}` };
    if (!anySession && o.status === 'deferred') agent.destinationDown();
    for (const idx of [...pending.keys()]) {
      finish(idx, {
        index: idx,
        status: o.status,
        dsn: o.dsn,
        reason: o.reason,
        relay: o.relay ?? 'none',
        ...(o.reply && { diagnostic: `smtp; ${o.reply.text}` }),
        ...(o.host && { remoteMta: `dns; ${o.host.replace(/\[.*$/, '')}` }),
      });
    }
  }
  return results;
}

function cacheable(env: Env, session: ClientSession, policy: TlsPolicy): boolean {
  const { s } = env;
  if (!s.bool('connection_cache_on_demand') && !s.list('connection_cache_destinations').length) return false;
  if (session.secure && !s.bool('tls_connection_reuse')) return false;
  void policy;
  const countLimit = s.int('connection_reuse_count_limit');
  if (countLimit > 0 && session.uses >= countLimit) return false;
  return Date.now() - session.createdAt < s.time('connection_reuse_time_limit') * 1000;
}

function park(env: Env, session: ClientSession, cacheKey: string, addrKey: string, policy: TlsPolicy): void {
  void resetAndPark(env, session, cacheKey, addrKey, policy);
}

async function resetAndPark(env: Env, session: ClientSession, cacheKey: string, addrKey: string, policy: TlsPolicy): Promise<void> {
  if (!session.usable || !cacheable(env, session, policy)) {
    session.quit();
    return;
  }
  try {
    await session.reset();
  } catch {
    session.close();
    return;
  }
  env.cache.put([cacheKey, addrKey], session, Math.max(1, env.s.time('connection_cache_time_limit')) * 1000);
}

/** The session options for `server` (without TLS). */
function sessionOptions(env: Env, server: { host: string; address?: string; port?: number; path?: string }): Omit<SessionOptions, 'tls'> {
  const { s } = env;
  const lmtp = env.protocol === 'lmtp';
  const bind = server.address && server.address.includes(':') ? s.get('bind_address6') : s.get('bind_address');
  return {
    lmtp,
    endpoint: server,
    heloName: s.get(lmtp ? 'lhlo_name' : 'helo_name'),
    ...(bind && { bindAddress: bind }),
    timeouts: {
      connect: s.time('connect_timeout'),
      helo: s.time(lmtp ? 'lhlo_timeout' : 'helo_timeout'),
      starttls: s.time('starttls_timeout'),
      mail: s.time('mail_timeout'),
      rcpt: s.time('rcpt_timeout'),
      dataInit: s.time('data_init_timeout'),
      dataXfer: s.time('data_xfer_timeout'),
      dataDone: s.time('data_done_timeout'),
      rset: s.time('rset_timeout'),
      quit: s.time('quit_timeout'),
    },
    replyLimit: env.config.has('line_length_limit') ? env.config.int('line_length_limit') : 2048,
  };
}

async function openSession(
  env: Env,
  dest: Destination,
  server: { host: string; address?: string; port?: number; path?: string },
  policy: TlsPolicy,
  signal: AbortSignal,
): Promise<{ session: ClientSession } | { failure: Outcome }> {
  const { log } = env;
  const base = sessionOptions(env, server);
  const nexthop = dest.kind === 'inet' ? dest.host : server.host;
  const withTls = policy.level !== 'none';
  const tlsId = tlsClientSessionId(server);
  const resume = withTls ? await env.tlsCache.get(tlsId) : undefined;
  let tlsOptions;
  try {
    tlsOptions = withTls
      ? tlsConnectOptions({ policy, settings: tlsSettings(env), hostname: server.host, nexthop, warn: (w) => log.warn(w), ...(resume && { session: resume }) })
      : undefined;
  } catch (err) {
    log.warn(`TLS client initialization failed: ${(err as Error).message}`);
    return { failure: { status: 'deferred', dsn: '4.7.5', reason: 'TLS is required, but our TLS engine is unavailable' } };
  }
  const attempt = async (tlsOn: boolean) => {
    const session = await ClientSession.open(
      { ...base, ...(tlsOn && tlsOptions && { tls: { options: tlsOptions, required: policy.level !== 'may' } }) },
      signal,
    );
    const sock = session.tlsSocket;
    if (sock) log.info(tlsSummary(sock, tlsTrust(sock, policy.level), session.relay));
    if (sock) saveTlsSession(env.tlsCache, tlsId, sock);
    return session;
  };
  try {
    return { session: await attempt(withTls) };
  } catch (err) {
    let e = err as SessionError;
    if (e.kind === 'tls' && policy.level === 'may') {
      log.info(`${server.host}[${server.path ?? server.address}]:${server.port ?? ''}: ${e.message}; retrying without TLS`.replace(/:\s*:/, ':'));
      try {
        return { session: await attempt(false) };
      } catch (err2) {
        e = err2 as SessionError;
      }
    }
    return { failure: sessionFailure(env, e, server) };
  }
}

function sessionFailure(env: Env, e: SessionError, server: { host: string; address?: string; port?: number; path?: string }): Outcome {
  const peer = `${server.host}[${server.path ?? server.address}]`;
  const relay = server.path ? peer : `${peer}:${server.port}`;
  if (!(e instanceof SessionError)) return { status: 'deferred', dsn: '4.4.2', reason: String((e as Error)?.message ?? e), relay };
  switch (e.kind) {
    case 'connect':
      return { status: 'deferred', dsn: '4.4.1', reason: e.message };
    case 'timeout':
    case 'lost':
    case 'protocol':
      return { status: 'deferred', dsn: '4.4.2', reason: e.message, relay };
    case 'tls-required':
      return { status: 'deferred', dsn: '4.7.4', reason: e.message, relay };
    case 'tls':
      return { status: 'deferred', dsn: '4.7.5', reason: e.message, relay };
    case 'reply': {
      const reply = e.reply!;
      if (e.state === 'greeting') {
        const skip = env.s.bool('skip_5xx_greeting');
        const dsn = skip ? softDsn(reply.dsn) : reply.dsn;
        return {
          status: dsn.startsWith('5') ? 'bounced' : 'deferred',
          dsn: dsn.startsWith('2') ? '4.0.0' : dsn,
          reason: `host ${peer} refused to talk to me: ${reply.text}`,
          relay,
          reply,
          host: peer,
        };
      }
      return { status: reply.code >= 500 ? 'bounced' : 'deferred', dsn: reply.code >= 500 ? reply.dsn : softDsn(reply.dsn), reason: saidText(peer, reply, e.state), relay, reply, host: peer };
    }
  }
}

/** The message's client as XFORWARD names it; mail that did not come over the network is SOURCE=LOCAL. */
function xforwardAttrs(request: DeliveryRequest): Record<string, string | undefined> {
  const c = request.client;
  const remote = !!c?.address && c.protocol !== 'LOCAL';
  return {
    NAME: c?.name,
    ADDR: c?.address,
    PORT: c?.port !== undefined ? String(c.port) : undefined,
    PROTO: c?.protocol,
    HELO: c?.helo,
    IDENT: request.queueId,
    SOURCE: remote ? 'REMOTE' : 'LOCAL',
  };
}
