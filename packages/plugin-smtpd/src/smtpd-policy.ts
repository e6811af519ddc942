/**
 * Policy delegation (Postfix's SMTPD_POLICY_README, smtpd_check.c
 * check_policy_service): smtpd sends a policy server one request of
 * "name=value" lines ending in an empty line, and the server answers
 * "action=..." (and an empty line). The action is applied as an access(5)
 * action by smtpd-check.ts.
 *
 * Connections are kept per smtpd process and reused by the sessions that
 * follow (Postfix's attr_clnt): a connection is closed after
 * smtpd_policy_service_max_idle without use, after smtpd_policy_service_max_ttl
 * of life, and after smtpd_policy_service_request_limit requests (0: no limit).
 * One request waits at most smtpd_policy_service_timeout; a failed request is
 * tried smtpd_policy_service_try_limit times, smtpd_policy_service_retry_delay
 * apart, and then smtpd_policy_service_default_action is the answer.
 *
 * Endpoints: inet:host:port, unix:pathname, or a bare pathname; a relative
 * pathname is relative to queue_directory ("unix:private/policy"). The
 * per-service form "{ inet:host:port, timeout=10s, default_action=DUNNO, ... }"
 * overrides these settings for one service (Postfix 3.0): timeout, max_idle,
 * max_ttl, request_limit, try_limit, retry_delay, default_action, policy_context.
 */
import { xtext } from './smtpd-ccert.js';
import { connect, type Socket } from 'node:net';
import { isAbsolute, join } from 'node:path';
import type { ConfigView, Logger, SmtpdStage } from '@postern/core';
import type { SmtpdState } from './smtpd-state.js';

/** The settings of one check_policy_service server. */
export interface PolicySettings {
  readonly endpoint: string;
  readonly timeout: number;
  readonly maxIdle: number;
  readonly maxTtl: number;
  readonly requestLimit: number;
  readonly tryLimit: number;
  readonly retryDelay: number;
  readonly defaultAction: string;
  readonly policyContext: string;
}

const OVERRIDES: Readonly<Record<string, string>> = {
  timeout: 'smtpd_policy_service_timeout',
  max_idle: 'smtpd_policy_service_max_idle',
  max_ttl: 'smtpd_policy_service_max_ttl',
  request_limit: 'smtpd_policy_service_request_limit',
  try_limit: 'smtpd_policy_service_try_limit',
  retry_delay: 'smtpd_policy_service_retry_delay',
  default_action: 'smtpd_policy_service_default_action',
  policy_context: 'smtpd_policy_service_policy_context',
};

/** "1s", "100" (seconds) ... -> milliseconds; undefined when malformed. */
function seconds(v: string): number | undefined {
  const m = /^(\d+)([smhdw]?)$/i.exec(v.trim());
  if (!m) return undefined;
  const unit = { '': 1, s: 1, m: 60, h: 3600, d: 86400, w: 604800 }[m[2]!.toLowerCase()]!;
  return Number(m[1]) * unit * 1000;
}

/**
 * The server argument of check_policy_service: "inet:host:port" or
 * "{ inet:host:port, name=value, ... }" (a value with spaces or commas in
 * braces: default_action={450 4.7.1 try again}). Throws on a bad form.
 */
export function policySettings(arg: string, config: ConfigView): PolicySettings {
  const values: Record<string, string> = {};
  for (const [short, param] of Object.entries(OVERRIDES)) values[short] = config.get(param);
  let endpoint = arg.trim();
  if (endpoint.startsWith('{')) {
    if (!endpoint.endsWith('}')) throw new Error(`missing '}' in "${arg}"`);
    const items = splitTop(endpoint.slice(1, -1));
    if (items.length === 0) throw new Error(`no policy server name in "${arg}"`);
    endpoint = items[0]!;
    for (const item of items.slice(1)) {
      const eq = item.indexOf('=');
      const name = eq < 0 ? item : item.slice(0, eq).trim();
      if (eq < 0 || !(name in OVERRIDES)) throw new Error(`unknown policy server attribute "${item}" in "${arg}"`);
      let value = item.slice(eq + 1).trim();
      if (value.startsWith('{') && value.endsWith('}')) value = value.slice(1, -1).trim();
      values[name] = value;
    }
  }
  const time = (name: string): number => {
    const ms = seconds(values[name]!);
    if (ms === undefined) throw new Error(`bad ${name} value "${values[name]}" for policy server ${endpoint}`);
    return ms;
  };
  const int = (name: string): number => {
    if (!/^\d+$/.test(values[name]!.trim())) throw new Error(`bad ${name} value "${values[name]}" for policy server ${endpoint}`);
    return Number(values[name]);
  };
  return {
    endpoint,
    timeout: time('timeout'),
    maxIdle: time('max_idle'),
    maxTtl: time('max_ttl'),
    requestLimit: int('request_limit'),
    tryLimit: Math.max(1, int('try_limit')),
    retryDelay: time('retry_delay'),
    defaultAction: values.default_action!.trim(),
    policyContext: values.policy_context!,
  };
}

/** Splits on commas and white space outside braces. */
function splitTop(text: string): string[] {
  const out: string[] = [];
  let cur = '';
  let depth = 0;
  for (const c of text) {
    if (depth === 0 && (c === ',' || c === '\n')) {
      if (cur.trim()) out.push(cur.trim());
      cur = '';
      continue;
    }
    if (c === '{') depth++;
    else if (c === '}' && depth > 0) depth--;
    cur += c;
  }
  if (cur.trim()) out.push(cur.trim());
  // "inet:host:port timeout=1s" (white space instead of commas) splits further
  return out.flatMap((item) => (item.includes('{') ? [item] : item.split(/\s+/).filter(Boolean)));
}

/** Where to connect for an endpoint name. */
function socketAddress(endpoint: string, queueDirectory: string): { host: string; port: number } | { path: string } {
  if (endpoint.startsWith('inet:')) {
    const rest = endpoint.slice(5);
    const colon = rest.lastIndexOf(':');
    if (colon < 0) throw new Error(`bad policy server address "${endpoint}"`);
    const host = rest.slice(0, colon).replace(/^\[(.*)\]$/, '$1') || 'localhost';
    const port = Number(rest.slice(colon + 1));
    if (!Number.isInteger(port) || port <= 0 || port > 65535) throw new Error(`bad policy server port in "${endpoint}"`);
    return { host, port };
  }
  const path = endpoint.startsWith('unix:') ? endpoint.slice(5) : endpoint;
  if (!path) throw new Error(`bad policy server address "${endpoint}"`);
  return { path: isAbsolute(path) ? path : join(queueDirectory, path) };
}

/** One open connection to a policy server. */
class PolicyConnection {
  readonly born = Date.now();
  requests = 0;
  idleTimer?: NodeJS.Timeout;
  private buf = '';
  private waiter?: { resolve: (lines: string[]) => void; reject: (e: Error) => void };
  broken = false;

  constructor(readonly socket: Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      this.buf += d;
      this.deliver();
    });
    socket.on('error', (err) => this.fail(err));
    socket.on('close', () => this.fail(new Error('lost connection')));
  }

  /** Hands the waiting request the lines before the first empty line. */
  private deliver(): void {
    if (!this.waiter) return;
    const end = this.buf.startsWith('\n') ? 0 : this.buf.indexOf('\n\n');
    if (end < 0) return;
    const text = this.buf.slice(0, end);
    this.buf = this.buf.slice(end === 0 ? 1 : end + 2);
    const w = this.waiter;
    this.waiter = undefined;
    w.resolve(text.split('\n').filter((l) => l !== ''));
  }

  private fail(err: Error): void {
    this.broken = true;
    const w = this.waiter;
    this.waiter = undefined;
    w?.reject(err);
  }

  /** Sends one request and reads the attribute lines of the answer. */
  exchange(request: string, timeoutMs: number): Promise<string[]> {
    this.requests++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.fail(new Error('timeout'));
        this.socket.destroy();
      }, timeoutMs);
      this.waiter = {
        resolve: (lines) => {
          clearTimeout(timer);
          resolve(lines);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      this.socket.write(request);
    });
  }

  close(): void {
    clearTimeout(this.idleTimer);
    this.broken = true;
    this.socket.destroy();
  }
}

function open(address: { host: string; port: number } | { path: string }, timeoutMs: number): Promise<PolicyConnection> {
  return new Promise((resolve, reject) => {
    const socket = 'path' in address ? connect(address.path) : connect(address.port, address.host);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('timeout'));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(new PolicyConnection(socket));
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/** The policy servers of one smtpd process, with their idle connections. */
export class PolicyClients {
  private readonly idle = new Map<string, PolicyConnection[]>();
  /** Connections opened so far (for tests and the log). */
  opened = 0;

  constructor(
    private readonly config: ConfigView,
    private readonly log: Logger,
    private readonly sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
  ) {}

  /**
   * Asks the server; the answer is the action text (without "action="), or
   * the default action after try_limit failures.
   */
  async query(settings: PolicySettings, attrs: ReadonlyArray<readonly [string, string]>): Promise<string> {
    const request = attrs.map(([k, v]) => `${k}=${v.replace(/[\r\n]/g, ' ')}\n`).join('') + '\n';
    let address: { host: string; port: number } | { path: string };
    try {
      address = socketAddress(settings.endpoint, this.config.get('queue_directory'));
    } catch (err) {
      this.log.warn(`${(err as Error).message}`);
      return settings.defaultAction;
    }
    const name = 'path' in address ? address.path : `${address.host}:${address.port}`;
    for (let attempt = 1; ; attempt++) {
      let conn: PolicyConnection | undefined;
      try {
        conn = this.take(settings);
        if (!conn) {
          conn = await open(address, settings.timeout);
          this.opened++;
        }
        const lines = await conn.exchange(request, settings.timeout);
        this.release(settings, conn);
        const action = lines.find((l) => l.startsWith('action='));
        if (action !== undefined) return action.slice('action='.length).trim();
        this.log.warn(`missing attribute action in input from ${name}`);
        return settings.defaultAction;
      } catch (err) {
        conn?.close();
        this.log.warn(`problem talking to server ${name}: ${(err as Error).message}`);
        if (attempt >= settings.tryLimit) return settings.defaultAction;
        await this.sleep(settings.retryDelay);
      }
    }
  }

  private take(settings: PolicySettings): PolicyConnection | undefined {
    const list = this.idle.get(settings.endpoint);
    while (list && list.length > 0) {
      const c = list.pop()!;
      clearTimeout(c.idleTimer);
      if (!c.broken && Date.now() - c.born < settings.maxTtl) return c;
      c.close();
    }
    return undefined;
  }

  private release(settings: PolicySettings, conn: PolicyConnection): void {
    const expired = Date.now() - conn.born >= settings.maxTtl;
    const used = settings.requestLimit > 0 && conn.requests >= settings.requestLimit;
    if (conn.broken || expired || used) {
      conn.close();
      return;
    }
    let list = this.idle.get(settings.endpoint);
    if (!list) this.idle.set(settings.endpoint, (list = []));
    list.push(conn);
    conn.idleTimer = setTimeout(() => {
      const i = list.indexOf(conn);
      if (i >= 0) list.splice(i, 1);
      conn.close();
    }, settings.maxIdle);
    conn.idleTimer.unref();
  }

  /** Closes every idle connection (smtpd stopping). */
  close(): void {
    for (const list of this.idle.values()) for (const c of list.splice(0)) c.close();
  }
}

/** Postfix's protocol_state names of the restriction stages. */
const PROTOCOL_STATE: Readonly<Record<SmtpdStage, string>> = {
  connect: 'CONNECT',
  helo: 'EHLO',
  mail: 'MAIL',
  rcpt: 'RCPT',
  data: 'DATA',
  'end-of-data': 'END-OF-MESSAGE',
};

/** The request attributes, in SMTPD_POLICY_README's order (Postfix 3.7's set). */
export function policyRequest(
  s: SmtpdState,
  input: { stage: SmtpdStage; recipient?: string; size?: number; settings: PolicySettings; config: ConfigView },
): [string, string][] {
  const { stage, config } = input;
  const state = stage === 'helo' ? (s.where === 'HELO' ? 'HELO' : 'EHLO') : s.where === 'VRFY' || s.where === 'ETRN' ? s.where : PROTOCOL_STATE[stage];
  const afterData = stage === 'data' || stage === 'end-of-data';
  const peer = s.tls?.peer;
  return [
    ['request', 'smtpd_access_policy'],
    ['protocol_state', state],
    ['protocol_name', s.protocol],
    ['helo_name', s.helo ?? ''],
    ['queue_id', s.queueId ?? ''],
    ['sender', s.sender ?? ''],
    ['recipient', input.recipient ?? ''],
    ['recipient_count', afterData ? String(s.recipients.length) : '0'],
    ['client_address', s.address],
    ['client_name', s.name],
    ['reverse_client_name', s.reverseName],
    ['instance', (s.policyInstance ??= `${process.pid.toString(16)}.${(++instances).toString(16)}.${Date.now().toString(16)}.0`)],
    ['sasl_method', s.saslMethod ?? ''],
    ['sasl_username', s.saslUsername ?? ''],
    ['sasl_sender', s.senderSaslAuth ?? ''],
    ['size', String(input.size ?? s.sizeAnnounced ?? 0)],
    // the CommonNames only from a verified certificate, xtext-encoded (smtpd_check.c ENCODE_CN)
    ['ccert_subject', peer?.trusted ? xtext(peer.subjectCN) : ''],
    ['ccert_issuer', peer?.trusted ? xtext(peer.issuerCN) : ''],
    ['ccert_fingerprint', peer?.fingerprint ?? ''],
    ['ccert_pubkey_fingerprint', peer?.pubkeyFingerprint ?? ''],
    ['encryption_protocol', s.tls?.protocol ?? ''],
    ['encryption_cipher', s.tls?.cipher ?? ''],
    ['encryption_keysize', s.tls ? String(s.tls.bits) : '0'],
    ['etrn_domain', ''],
    ['stress', config.get('stress')],
    ['client_port', String(s.port)],
    ['policy_context', input.settings.policyContext],
    ['server_address', s.localAddress],
    ['server_port', String(s.localPort)],
    ['compatibility_level', config.get('compatibility_level')],
    ['mail_version', config.get('mail_version')],
  ];
}

let instances = 0;
