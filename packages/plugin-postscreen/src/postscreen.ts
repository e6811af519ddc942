/**
 * NAME
 *   postscreen - Postern zombie blocker (Postfix postscreen(8))
 *
 * SYNOPSIS
 *   master.cf:  smtp      inet  n       -       n       -       1       postscreen
 *               smtpd     pass  -       -       n       -       -       smtpd
 *               dnsblog   unix  -       -       n       -       0       dnsblog
 *               tlsproxy  unix  -       -       n       -       0       tlsproxy
 *
 * DESCRIPTION
 *   postscreen takes the connections of the SMTP port before smtpd does and
 *   keeps most spambots away from it (POSTSCREEN_README):
 *
 *   - postscreen_access_list: permanent allow (ALLOWLISTED, straight to
 *     smtpd) and deny (DENYLISTED, postscreen_denylist_action) lists.
 *   - The temporary allowlist (postscreen_cache_map): a client whose tests
 *     have not expired goes straight to smtpd (PASS OLD).
 *   - Before the greeting: a "220-" teaser (postscreen_greet_banner), then
 *     postscreen_greet_wait for a client that speaks too early (PREGREET,
 *     postscreen_greet_action), while dnsblog(8) asks the DNS lists of
 *     postscreen_dnsbl_sites; a combined weight at or above
 *     postscreen_dnsbl_threshold fails the client (DNSBL rank,
 *     postscreen_dnsbl_action), one at or below a negative
 *     postscreen_dnsbl_allowlist_threshold skips the other tests.
 *   - After the greeting, when enabled, the deep protocol tests in a dummy
 *     SMTP engine (pipelining, non-SMTP command, bare newline), which
 *     answers every RCPT with 450 4.3.2: a client that passes them is
 *     allowlisted and handed to smtpd when it comes back.
 *   - A client that passes is handed to the smtpd pass service
 *     (smtpd_service_name): master gives the connection to an smtpd
 *     process, which sends its own "220 " greeting.
 *   - STARTTLS in the dummy engine goes through tlsproxy(8).
 *   - postscreen_command_filter may replace a command line before the dummy
 *     engine parses it; every 4xx/5xx reply gets postscreen_reject_footer
 *     (or the postscreen_reject_footer_maps result), postscreen-send.ts.
 *
 *   Actions: ignore (note the failure, go on), enforce (go on in the dummy
 *   engine, reject every RCPT with 550 5.5.1 or 550 5.7.1), drop (521 and
 *   hang up).
 *
 * CONFIGURATION PARAMETERS
 *   See postscreen-params.ts and the README (Postfix 3.7 names and defaults).
 *
 * LOGGING
 *   CONNECT from [addr]:port to [addr]:port; PASS NEW|OLD [addr]:port;
 *   PREGREET n after t from [addr]:port: text; DNSBL rank n for [addr]:port;
 *   COMMAND PIPELINING from ...; NON-SMTP COMMAND from ...; BARE NEWLINE
 *   from ...; HANGUP after t from [addr]:port in tests ...; NOQUEUE: reject:
 *   RCPT from [addr]:port: 450 4.3.2 ...; ALLOWLISTED/DENYLISTED [addr]:port;
 *   DISCONNECT [addr]:port; [addr]:port: replacing command "..." with "...".
 *
 * SECURITY
 *   Run one postscreen process (maxproc 1): the client table and the
 *   temporary allowlist belong to it. postscreen never looks up client
 *   names and never reads a message.
 */
import type { Socket } from 'node:net';
import { DNSBLOG, inject, injectable, MatchList, openCommandFilter, passConnection, SMTPD_FORBIDDEN_COMMANDS_DEFAULT, splitList, TABLES, tryUse, type ConfigView, type DnsblogService, type Logger, type ServiceMain, type TableRegistry } from '@postern/core';
import { AccessList, AddressList } from './postscreen-access.js';
import { MemoryCache, TableCache, type PostscreenCache } from './postscreen-cache.js';
import { DnsblScorer } from './postscreen-dnsbl.js';
import { PostscreenSession, type Action, type PostscreenSettings, type PostscreenShared, type PostscreenTls } from './postscreen-session.js';
import { readFooter } from './postscreen-send.js';
import { tlsproxyEngine } from './postscreen-tls.js';

function action(config: ConfigView, name: string): Action {
  const v = config.get(name).trim().toLowerCase();
  if (v === 'ignore' || v === 'enforce' || v === 'drop') return v;
  throw new Error(`unknown ${name} value "${v}": specify ignore, enforce or drop`);
}

function tlsLevel(config: ConfigView): 'none' | 'may' | 'encrypt' {
  const level = config.get('postscreen_tls_security_level').trim().toLowerCase();
  if (level === 'encrypt' || level === 'may') return level;
  if (level === '' && config.bool('postscreen_enforce_tls')) return 'encrypt';
  if (level === '' && config.bool('postscreen_use_tls')) return 'may';
  return 'none';
}

/** postscreen_forbidden_commands; its default names smtpd's parameter, which only an installed smtpd declares: Postfix's default then. */
function forbiddenCommands(config: ConfigView): string[] {
  if (config.isSet('postscreen_forbidden_commands') || config.has('smtpd_forbidden_commands')) return config.list('postscreen_forbidden_commands');
  return splitList(SMTPD_FORBIDDEN_COMMANDS_DEFAULT);
}

export function readSettings(config: ConfigView, tables?: TableRegistry, log?: Logger): PostscreenSettings {
  const t = (n: string) => config.time(n);
  const enabled = {
    pregr: config.get('postscreen_greet_banner').trim() !== '',
    dnsbl: config.list('postscreen_dnsbl_sites').length > 0,
    pipel: config.bool('postscreen_pipelining_enable'),
    nsmtp: config.bool('postscreen_non_smtp_command_enable'),
    barlf: config.bool('postscreen_bare_newline_enable'),
  };
  const ttls = { pipel: t('postscreen_pipelining_ttl'), nsmtp: t('postscreen_non_smtp_command_ttl'), barlf: t('postscreen_bare_newline_ttl') };
  return {
    myhostname: config.get('myhostname'),
    smtpdBanner: config.expand(config.get('smtpd_banner')),
    greetBanner: config.expand(config.get('postscreen_greet_banner')),
    greetWaitMs: t('postscreen_greet_wait') * 1000,
    greetTtl: t('postscreen_greet_ttl'),
    greetAction: action(config, 'postscreen_greet_action'),
    dnsblThreshold: config.int('postscreen_dnsbl_threshold'),
    dnsblAllowlistThreshold: config.int('postscreen_dnsbl_allowlist_threshold'),
    dnsblAction: action(config, 'postscreen_dnsbl_action'),
    denylistAction: action(config, 'postscreen_denylist_action'),
    enabled,
    actions: {
      pipel: action(config, 'postscreen_pipelining_action'),
      nsmtp: action(config, 'postscreen_non_smtp_command_action'),
      barlf: action(config, 'postscreen_bare_newline_action'),
    },
    ttls,
    minTtl: Math.min(t('postscreen_greet_ttl'), t('postscreen_dnsbl_min_ttl'), ttls.pipel, ttls.nsmtp, ttls.barlf),
    connectionLimit: config.int('postscreen_client_connection_count_limit'),
    preQueueLimit: config.int('postscreen_pre_queue_limit'),
    postQueueLimit: config.int('postscreen_post_queue_limit'),
    commandCountLimit: config.int('postscreen_command_count_limit'),
    commandTimeMs: t('postscreen_command_time_limit') * 1000,
    lineLimit: config.int('line_length_limit') || 2048,
    messageSizeLimit: config.int('message_size_limit'),
    heloRequired: config.bool('postscreen_helo_required'),
    disableVrfy: config.bool('postscreen_disable_vrfy_command'),
    // a string list as smtpd's: words, !exceptions, type:table (a table that cannot be opened is left out)
    forbiddenCommands: new MatchList('postscreen_forbidden_commands', forbiddenCommands(config), tables, 'exact', (spec, err) =>
      log?.warn(`postscreen_forbidden_commands: ${spec}: ${err.message}; the table is not used`),
    ),
    discardEhlo: config.list('postscreen_discard_ehlo_keywords'),
    tlsLevel: tlsLevel(config),
    smtputf8: config.bool('smtputf8_enable'),
  };
}

export interface PostscreenOptions {
  /** Where accepted connections go (default: master's pass service smtpd_service_name). */
  readonly handoff?: (socket: Socket) => boolean;
  readonly tls?: PostscreenTls;
  readonly now?: () => number;
  /** The tables of postscreen_reject_footer_maps, postscreen_command_filter... (default: the container's TABLES). */
  readonly tables?: TableRegistry;
}

/** What postscreen takes from its container: dnsblog (its manifest uses it). */
@injectable()
export class PostscreenServices {
  constructor(@inject(DNSBLOG) readonly dnsblog: DnsblogService) {}
}

export function createPostscreenMain(options: PostscreenOptions = {}): ServiceMain {
  return async (ctx) => {
    const { config, log } = ctx;
    const tables = options.tables ?? tryUse(ctx.container, TABLES);
    const settings = readSettings(config, tables, log);
    const mapSpec = config.get('postscreen_cache_map').trim();
    const cache: PostscreenCache = mapSpec && tables ? new TableCache(tables.open(mapSpec), log) : new MemoryCache();
    const mynetworks = new AddressList(config.list('mynetworks'), tables, log, 'mynetworks');
    const replyMap = config.get('postscreen_dnsbl_reply_map').trim();
    const scorer = new DnsblScorer(
      ctx.container.resolve(PostscreenServices).dnsblog,
      {
        sites: config.list('postscreen_dnsbl_sites'),
        minTtl: config.time('postscreen_dnsbl_min_ttl'),
        maxTtl: config.time('postscreen_dnsbl_max_ttl'),
        timeoutMs: config.time('postscreen_dnsbl_timeout') * 1000,
        replyMap: replyMap && tables ? tables.open(replyMap) : undefined,
      },
      log,
    );
    const smtpdService = config.get('smtpd_service_name') || 'smtpd';
    const shared: PostscreenShared = {
      log,
      settings,
      cache,
      access: new AccessList(config.list('postscreen_access_list'), mynetworks, tables, log),
      allowlistInterfaces: new AddressList(config.list('postscreen_allowlist_interfaces'), tables, log, 'postscreen_allowlist_interfaces'),
      scorer,
      clients: new Map(),
      tls: options.tls ?? (settings.tlsLevel !== 'none' ? tlsproxyEngine(config, log) : undefined),
      footer: readFooter(config, tables),
      commandFilter: tables ? openCommandFilter(config, 'postscreen_command_filter', (spec) => tables.open(spec)) : undefined,
      screening: 0,
      served: 0,
      handoff: options.handoff ?? ((socket) => passConnection(smtpdService, socket)),
      now: options.now ?? Date.now,
    };
    const sessions = new Set<PostscreenSession>();
    ctx.onConnection((socket) => {
      const session = new PostscreenSession(shared, socket);
      sessions.add(session);
      session.onRelease(() => sessions.delete(session));
      session.start().catch((err: Error) => {
        log.warn(`${session.addrPort}: ${err.message}`);
        socket.destroy();
      });
    });
    const interval = config.time('postscreen_cache_cleanup_interval') * 1000;
    const cleanup =
      interval > 0
        ? setInterval(() => {
            void cache.cleanup(Math.floor(shared.now() / 1000), config.time('postscreen_cache_retention_time')).then(([kept, dropped]) =>
              log.info(`cache ${cache.name} full cleanup: retained=${kept} dropped=${dropped} entries`),
            );
          }, interval)
        : undefined;
    cleanup?.unref();
    return {
      async stop() {
        clearInterval(cleanup);
        for (const s of sessions) s.socket.destroy();
      },
    };
  };
}

export const main: ServiceMain = createPostscreenMain();
