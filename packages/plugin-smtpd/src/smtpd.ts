/**
 * NAME
 *   smtpd - Postern SMTP server (Postfix smtpd(8))
 *
 * SYNOPSIS
 *   master.cf:  smtp       inet  n  -  n  -  -  smtpd
 *               submission inet  n  -  n  -  -  smtpd -o smtpd_tls_security_level=encrypt
 *                                                     -o smtpd_sasl_auth_enable=yes
 *               smtps      inet  n  -  n  -  -  smtpd -o smtpd_tls_wrappermode=yes
 *
 * DESCRIPTION
 *   smtpd accepts network connections that master hands it and speaks
 *   ESMTP (RFC 5321) with PIPELINING, SIZE, VRFY, STARTTLS, AUTH,
 *   ENHANCEDSTATUSCODES, 8BITMIME, DSN and SMTPUTF8. Each accepted message
 *   goes to cleanup(8) through the CleanupService contract: a Received:
 *   header, then the message as received, with LF line ends (CRLF -> LF).
 *   The client hears "250 2.0.0 Ok: queued as ID" only after cleanup
 *   reports the queue file durable. Addresses are classified with
 *   trivial-rewrite(8)'s resolve() (RewriteService).
 *
 *   The socket work, STARTTLS and DATA dot-unstuffing come from the
 *   smtp-server package; this plugin adds Postfix's command semantics,
 *   replies, restrictions (smtpd-check.ts), error limits and log lines.
 *
 * PROTOCOL
 *   RFC 5321, RFC 1870 (SIZE), RFC 2920 (PIPELINING), RFC 3207 (STARTTLS),
 *   RFC 4954 (AUTH), RFC 2034 (ENHANCEDSTATUSCODES), RFC 6152 (8BITMIME),
 *   RFC 3461 (DSN), RFC 6531 (SMTPUTF8), RFC 1985 (ETRN, through the flush
 *   service), SMTPD_POLICY_README (check_policy_service, smtpd-policy.ts),
 *   MILTER_README (smtpd_milters, smtpd-milter.ts on @postern/milter),
 *   RFC 2033 LMTP with postern_smtpd_protocol = lmtp (LHLO, one reply per
 *   recipient after DATA), RFC 3030 (CHUNKING/BDAT, smtpd-bdat.ts).
 *   XFORWARD_README (smtpd_authorized_xforward_hosts, smtpd-xforward.ts).
 *   Not implemented: XCLIENT,
 *   smtpd_etrn_restrictions.
 *
 * CONFIGURATION PARAMETERS
 *   See smtpd-params.ts and the README for the full table. The main ones:
 *   smtpd_banner ($myhostname ESMTP $mail_name), smtpd_timeout (300s),
 *   smtpd_per_request_deadline (normal: no, overload: yes), smtpd_min_data_rate (500),
 *   smtpd_recipient_limit (1000), smtpd_soft_error_limit (10),
 *   smtpd_hard_error_limit (20), smtpd_error_sleep_time (1s),
 *   message_size_limit (10240000), line_length_limit (2048),
 *   strict_smtputf8 (no; 553 5.6.7 for a non-ASCII address without SMTPUTF8),
 *   smtpd_*_restrictions, smtpd_delay_reject (yes), smtpd_tls_security_level,
 *   smtpd_tls_cert_file, smtpd_tls_key_file, smtpd_tls_wrappermode,
 *   smtpd_tls_ask_ccert (no), smtpd_tls_CAfile, smtpd_tls_fingerprint_digest
 *   (sha256; the policy ccert_* attributes), smtpd_tls_(mandatory_)protocols,
 *   smtpd_tls_(mandatory_)ciphers, smtpd_tls_(mandatory_)exclude_ciphers
 *   (smtpd-tls-options.ts),
 *   smtpd_sasl_auth_enable, smtpd_sasl_type (dovecot | postern-table),
 *   smtpd_sasl_path, smtpd_tls_auth_only, smtpd_forbid_bare_newline (no),
 *   smtpd_peername_lookup (yes), postern_smtpd_plugins, smtpd_milters,
 *   milter_* (see @postern/milter), smtpd_policy_service_*, content_filter,
 *   receive_override_options, postern_smtpd_protocol (smtp | lmtp).
 *
 * SECURITY
 *   Not an open relay with the defaults: smtpd_relay_restrictions =
 *   permit_mynetworks, permit_sasl_authenticated, defer_unauth_destination.
 *   AUTH is offered only when smtpd_sasl_auth_enable = yes, and with
 *   smtpd_tls_auth_only = yes (or noplaintext) not before STARTTLS. The end
 *   of DATA is only ever <CR><LF>.<CR><LF> (no SMTP smuggling through bare
 *   <LF>.<LF>); smtpd_forbid_bare_newline = yes rejects bare <LF> outright.
 *   After STARTTLS everything learned in plain text is forgotten, and
 *   plain-text input queued behind STARTTLS is discarded. smtpd does not
 *   wait before its greeting (no smtp-server early-talker delay; pregreet
 *   tests belong to postscreen). Connection-count limits (anvil) are not
 *   enforced by smtpd itself.
 *
 * LOGGING
 *   connect from name[addr]; QUEUEID: client=name[addr]; NOQUEUE: reject:
 *   RCPT from name[addr]: reply; from=<s> to=<r> proto=ESMTP helo=<h>;
 *   lost connection after CMD from ...; timeout after CMD from ...;
 *   disconnect from name[addr] ehlo=1 mail=1 rcpt=1 data=1 quit=1 commands=5.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { ANVIL, CLEANUP, REWRITE, TABLES, inject, injectable, provide, serviceClients, token, tryUse, type ServicePreInit, type CleanupService, type ConfigView, type Logger, type RewriteService, type SaslServer, type ServiceContext, type ServiceMain, type SmtpdHookRegistry, type TableRegistry, SASL_SERVER, SMTPD_HOOKS, type AnvilService, NAME_RESOLVER, VERIFY, type VerifyService, FLUSH, type FlushService } from '@postern/core';
import { shareTicketKeys, tlsSessionCache } from '@postern/smtp-client';
import { createHookRegistry, loadSmtpdPlugins } from './smtpd-hooks.js';
import { SmtpdCommandLists } from './smtpd-commands.js';
import { mynetworksList, networkMatcher } from './smtpd-peer.js';
import { PolicyClients } from './smtpd-policy.js';
import { SmtpdDnsxl } from './smtpd-dnsbl.js';
import { configuredResolver } from '@postern/dns';
import { createSaslServer } from './smtpd-sasl.js';
import { inputTransp } from './smtpd-transp.js';
import { PosternSMTPServer } from './smtpd-server.js';
import { smtpdTlsProtocolOptions, type SmtpdTlsProtocolOptions } from './smtpd-tls-options.js';
import { SmtpdSession, type SmtpdShared } from './smtpd-session.js';

type DependencyContainer = ServiceContext['container'];

/** The seam through which tests and embedders pass in-process services. */
export interface SmtpdOptions {
  readonly tables?: TableRegistry;
  readonly sasl?: SaslServer;
  readonly hooks?: SmtpdHookRegistry;
  /** How smtpd_error_sleep_time sleeps (default: a timer). */
  readonly sleep?: (ms: number) => Promise<void>;
  /** How postern_smtpd_plugins are imported (default: import()). */
  readonly importer?: (name: string) => Promise<Record<string, unknown>>;
}

export interface Smtpd {
  /** Serves one accepted connection. */
  accept(socket: Socket): void;
  /** Sessions in progress. */
  readonly sessions: number;
  stop(graceful: boolean): Promise<void>;
}

/** The contracts smtpd takes from its container (in-process objects or their clients). */
@injectable()
export class SmtpdServices {
  constructor(
    @inject(CLEANUP) readonly cleanup: CleanupService,
    @inject(REWRITE) readonly rewrite: RewriteService,
    @inject(ANVIL) readonly anvil: AnvilService,
    @inject(VERIFY) readonly verify: VerifyService,
    @inject(FLUSH) readonly flush: FlushService,
  ) {}
}

/** smtpd_tls_cert_file and smtpd_tls_key_file, read (or the reason they could not be). */
interface TlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
  readonly cert?: Buffer;
  readonly key?: Buffer;
  readonly error?: string;
  /** smtpd_tls_CAfile (with smtpd_tls_ask_ccert). */
  readonly ca?: Buffer;
  readonly caError?: string;
}

/** The TLS files as preInit read them, before the process dropped privileges. */
const SMTPD_TLS_FILES = token<TlsFiles>('smtpd.TlsFiles');

function readTlsFiles(config: ConfigView): TlsFiles | undefined {
  const certFile = config.get('smtpd_tls_cert_file').trim();
  const keyFile = config.get('smtpd_tls_key_file').trim() || certFile;
  if (!certFile) return undefined;
  let files: TlsFiles;
  try {
    files = { certFile, keyFile, cert: readFileSync(certFile), key: readFileSync(keyFile) };
  } catch (err) {
    return { certFile, keyFile, error: (err as Error).message };
  }
  const caFile = config.get('smtpd_tls_CAfile').trim();
  if (!caFile || !config.bool('smtpd_tls_ask_ccert')) return files;
  try {
    return { ...files, ca: readFileSync(caFile) };
  } catch (err) {
    return { ...files, caError: (err as Error).message };
  }
}

/**
 * Before the privilege drop (Postfix's smtpd reads its TLS files in
 * pre_jail_init, as root): the private key is often readable by root alone.
 */
export const preInit: ServicePreInit = (ctx) => {
  const files = readTlsFiles(ctx.config);
  if (files) provide(ctx.container, SMTPD_TLS_FILES, files);
};

/** Builds an smtpd for this configuration (master.cf -o overrides already applied). */
export async function createSmtpd(
  config: ConfigView,
  log: Logger,
  container: DependencyContainer,
  options: SmtpdOptions = {},
): Promise<Smtpd> {
  const tables = options.tables ?? tryUse(container, TABLES);
  const { cleanup, rewrite, anvil, verify, flush } = container.resolve(SmtpdServices);
  let sasl = options.sasl ?? tryUse(container, SASL_SERVER);
  if (!sasl && config.bool('smtpd_sasl_auth_enable')) sasl = createSaslServer(config, tables, log);
  const hooks = options.hooks ?? tryUse(container, SMTPD_HOOKS) ?? createHookRegistry();
  await loadSmtpdPlugins(config.list('postern_smtpd_plugins'), hooks, log, options.importer, config);

  const files = tryUse(container, SMTPD_TLS_FILES) ?? readTlsFiles(config);
  let tlsOptions: { key?: Buffer; cert?: Buffer; ca?: Buffer; requestCert?: boolean; rejectUnauthorized?: boolean } & Partial<SmtpdTlsProtocolOptions> = {};
  if (files?.error) log.warn(`cannot load TLS certificate or key (${files.certFile}, ${files.keyFile}): ${files.error}`);
  else if (files) tlsOptions = { cert: files.cert, key: files.key };
  if (tlsOptions.cert && config.bool('smtpd_tls_ask_ccert')) {
    // ask, never require: an unverified certificate is "Untrusted", not refused
    tlsOptions = { ...tlsOptions, requestCert: true, rejectUnauthorized: false };
    if (files?.caError) log.warn(`cannot load smtpd_tls_CAfile ${config.get('smtpd_tls_CAfile').trim()}: ${files.caError}`);
    else if (files?.ca) tlsOptions.ca = files.ca;
  }
  if (tlsOptions.cert) {
    // smtpd_tls_(mandatory_)protocols and _ciphers (smtpd-tls-options.ts); an invalid list turns TLS off
    const protocolOptions = smtpdTlsProtocolOptions(config, log, tlsOptions.requestCert === true);
    tlsOptions = protocolOptions ? { ...tlsOptions, ...protocolOptions } : {};
  }
  const tlsReady = tlsOptions.cert !== undefined;
  // The session id context goes into every session and ticket, and a session
  // resumes only where it matches: the same on every smtpd process and node
  // with the same settings (smtp-server's default hashes the process's argv,
  // which differs between a pre-forked spare and a fresh process). Postfix
  // digests its server id and the settings a session depends on the same way.
  const sessionIdContext = createHash('sha1')
    .update(
      [
        'smtpd',
        String(tlsOptions.requestCert ?? false),
        tlsOptions.ca ? createHash('sha1').update(tlsOptions.ca).digest('hex') : '',
        tlsOptions.minVersion ?? '',
        tlsOptions.maxVersion ?? '',
        tlsOptions.ciphers ?? '',
      ].join('\0'),
    )
    .digest('hex')
    .slice(0, 32);
  const wrapper = config.bool('smtpd_tls_wrappermode');
  if (wrapper && !tlsReady) log.warn('smtpd_tls_wrappermode = yes but no usable smtpd_tls_cert_file: connections will be refused');

  const resolver = tryUse(container, NAME_RESOLVER) ?? configuredResolver(config);
  const shared: SmtpdShared = {
    config,
    log,
    cleanup,
    rewrite,
    tables,
    sasl,
    hooks,
    mynetworks: networkMatcher(mynetworksList(config), tables),
    bareNewlineExclusions: networkMatcher(
      config.isSet('smtpd_forbid_bare_newline_exclusions') ? config.list('smtpd_forbid_bare_newline_exclusions') : mynetworksList(config),
      tables,
    ),
    anvil,
    eventLimitExceptions: networkMatcher(config.list('smtpd_client_event_limit_exceptions'), tables),
    xforwardHosts: networkMatcher(config.list('smtpd_authorized_xforward_hosts'), tables),
    tlsReady,
    policy: new PolicyClients(config, log),
    verify,
    flush,
    resolver,
    dnsxl: new SmtpdDnsxl(config, resolver, tables),
    transp: inputTransp(config, (w) => log.warn(w)),
    commands: new SmtpdCommandLists(config, tables, log),
    sleep: options.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms))),
  };

  const server = new PosternSMTPServer(
    {
      logger: false,
      // smtp-server would call os.hostname() for every connection otherwise
      name: config.get('myhostname'),
      disableReverseLookup: true,
      socketTimeout: Math.max(1, config.time('smtpd_timeout')) * 1000,
      closeTimeout: 1000,
      ...tlsOptions,
      sessionIdContext,
    },
    {
      lineLimit: config.int('line_length_limit') || 2048,
      // a command line must arrive within smtpd_timeout (smtpd_per_record_deadline for commands)
      commandDeadline: Math.max(1, config.time('smtpd_timeout')) * 1000,
      // smtpd_per_request_deadline: DATA and BDAT content within smtpd_timeout, plus smtpd_min_data_rate credit
      contentDeadline: config.bool('smtpd_per_request_deadline') ? Math.max(1, config.time('smtpd_timeout')) * 1000 : 0,
      minDataRate: Math.max(0, config.int('smtpd_min_data_rate')),
    },
    (conn) => new SmtpdSession(shared, conn),
  );
  server.on('error', (err: Error & { code?: string }) => {
    if (err.code !== 'ECONNRESET' && err.code !== 'EPIPE') log.warn(`smtpd: ${err.message}`);
  });
  server.on('tlsError', (err: Error | null, socket: Socket) => {
    log.warn(`TLS handshake failed for [${socket.remoteAddress}]: ${err?.message ?? 'connection closed'}`);
  });
  // tlsmgr(8): one session ticket key for every smtpd process, renewed by tlsmgr
  const stopTickets = tlsReady
    ? await shareTicketKeys(tlsSessionCache(serviceClients(container), 'smtpd', log), (ticketKeys) => server.updateSecureContext({ ticketKeys }), log)
    : () => undefined;

  return {
    accept(socket) {
      if (wrapper && !tlsReady) {
        socket.destroy();
        return;
      }
      server.accept(socket, wrapper);
    },
    get sessions() {
      return server.connections.size;
    },
    async stop(graceful) {
      stopTickets();
      shared.policy?.close();
      if (graceful) {
        while (server.connections.size > 0) await new Promise((r) => setTimeout(r, 50));
      }
      for (const conn of server.connections) {
        conn.send(421, `4.3.2 ${config.get('myhostname')} Service shutting down, closing transmission channel`, false);
      }
      await sasl?.close?.();
    },
  };
}

/** A ServiceMain with injected services (tests, embedders). */
export function createSmtpdMain(options: SmtpdOptions = {}): ServiceMain {
  return async (ctx: ServiceContext) => {
    const smtpd = await createSmtpd(ctx.config, ctx.log, ctx.container, options);
    ctx.onConnection((socket) => smtpd.accept(socket));
    return { stop: (graceful: boolean) => smtpd.stop(graceful) };
  };
}

/** The service entry master runs for the smtpd command. */
export const main: ServiceMain = createSmtpdMain();
