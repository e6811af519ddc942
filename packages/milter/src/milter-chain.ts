/**
 * The milters of one session (Postfix's milter.c): the list from
 * smtpd_milters or non_smtpd_milters with its settings, each event passed to
 * every milter in order until one answers, and the message stage, where each
 * milter in turn sees the message as the milters before it left it and its
 * edits are applied (headers, body, sender, recipients, quarantine).
 */
import { Milter, type MacroLists, type MacroSource, type MilterDefaultAction, type MilterSpec } from './milter-conn.js';
import type { MilterHeaderChecks } from './milter-hbc.js';
import { applyContentEdits, formatMessage, parseMessage } from './milter-message.js';
import { SMFIM } from './milter-protocol.js';

/** What the chain reads from the configuration (a Postern ConfigView fits). */
export interface MilterConfig {
  get(name: string): string;
  list(name: string): string[];
  /** Seconds. */
  time(name: string): number;
}

const ACTIONS = new Set(['accept', 'reject', 'tempfail', 'quarantine', 'shutdown']);

/** Splits "a, { b, c=d }" on commas and white space outside braces. */
function splitTop(text: string): string[] {
  const out: string[] = [];
  let cur = '';
  let depth = 0;
  for (const ch of text) {
    if (depth === 0 && /[\s,]/.test(ch)) {
      if (cur) out.push(cur);
      cur = '';
      continue;
    }
    if (ch === '{') depth++;
    else if (ch === '}' && depth > 0) depth--;
    cur += ch;
  }
  if (cur) out.push(cur);
  return out;
}

/**
 * The milters of a list parameter: "inet:host:port", "unix:path", or
 * "{ inet:host:port, connect_timeout=10s, command_timeout=10s,
 * content_timeout=60s, default_action=accept, protocol=6 }" (Postfix 3.0).
 */
export function milterSpecs(config: MilterConfig, param: string, value = config.get(param)): MilterSpec[] {
  const secs = (v: string, what: string): number => {
    const m = /^(\d+)([smhdw]?)$/i.exec(v.trim());
    if (!m) throw new Error(`${param}: bad ${what} value "${v}"`);
    return Number(m[1]) * ({ '': 1, s: 1, m: 60, h: 3600, d: 86400, w: 604800 }[m[2]!.toLowerCase()] ?? 1) * 1000;
  };
  return splitTop(value).map((item) => {
    const values: Record<string, string> = {
      connect_timeout: `${config.time('milter_connect_timeout')}s`,
      command_timeout: `${config.time('milter_command_timeout')}s`,
      content_timeout: `${config.time('milter_content_timeout')}s`,
      default_action: config.get('milter_default_action').trim(),
      protocol: config.get('milter_protocol').trim(),
    };
    let endpoint = item;
    if (item.startsWith('{')) {
      const inner = splitTop(item.replace(/^\{|\}$/g, ''));
      endpoint = inner[0] ?? '';
      for (const kv of inner.slice(1)) {
        const eq = kv.indexOf('=');
        const k = eq < 0 ? kv : kv.slice(0, eq);
        if (eq < 0 || !(k in values)) throw new Error(`${param}: unknown milter attribute "${kv}" in "${item}"`);
        values[k] = kv.slice(eq + 1);
      }
    }
    if (!endpoint) throw new Error(`${param}: no milter address in "${item}"`);
    const action = values.default_action!.toLowerCase();
    if (!ACTIONS.has(action)) throw new Error(`${param}: bad default_action "${values.default_action}"`);
    const protocol = Number(values.protocol);
    if (!Number.isInteger(protocol) || protocol < 2 || protocol > 6) throw new Error(`${param}: bad milter protocol "${values.protocol}"`);
    return {
      endpoint,
      connectTimeout: secs(values.connect_timeout!, 'connect_timeout'),
      commandTimeout: secs(values.command_timeout!, 'command_timeout'),
      contentTimeout: secs(values.content_timeout!, 'content_timeout'),
      defaultAction: action as MilterDefaultAction,
      protocol,
    };
  });
}

const bareMacro = (name: string) => name.replace(/^\{(.*)\}$/, '$1');

/**
 * milter_macro_defaults: "name=value" or "{ name = value }" pairs separated
 * by commas or white space; the braced form may hold commas and spaces in
 * the value. Names match with or without their braces ("{auth_type}").
 */
export function macroDefaults(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const item of splitTop(text)) {
    const pair = item.startsWith('{') && item.endsWith('}') ? item.slice(1, -1).trim() : item;
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new Error(`milter_macro_defaults: missing "=" in "${item}"`);
    out.set(bareMacro(pair.slice(0, eq).trim()), pair.slice(eq + 1).trim());
  }
  return out;
}

/** milter_*_macros by stage. */
export function macroLists(config: MilterConfig): MacroLists {
  return {
    [SMFIM.CONNECT]: config.list('milter_connect_macros'),
    [SMFIM.HELO]: config.list('milter_helo_macros'),
    [SMFIM.ENVFROM]: config.list('milter_mail_macros'),
    [SMFIM.ENVRCPT]: config.list('milter_rcpt_macros'),
    [SMFIM.DATA]: config.list('milter_data_macros'),
    [SMFIM.EOH]: config.list('milter_end_of_header_macros'),
    [SMFIM.EOM]: config.list('milter_end_of_data_macros'),
  };
}

/** The outcome of the message stage. */
export interface MilterMessageResult {
  /** A reply ("550 ...", "451 ...", "S" for 421): the message is refused. */
  readonly reply?: string;
  readonly discard?: boolean;
  /** Quarantine reason (HOLD). */
  readonly hold?: string;
  /** The content, as the milters left it (LF line ends). */
  readonly content: Buffer;
  readonly sender?: string;
  readonly addRecipients: string[];
  readonly deleteRecipients: string[];
}

export class MilterChain {
  private constructor(private readonly milters: Milter[]) {}

  /** Connects to every milter of the list (in parallel) and negotiates. */
  static async open(specs: readonly MilterSpec[], config: MilterConfig, macros: MacroSource, warn: (text: string) => void): Promise<MilterChain> {
    const lists = macroLists(config);
    const defaults = macroDefaults(config.get('milter_macro_defaults'));
    const source: MacroSource = defaults.size ? (name) => macros(name) ?? defaults.get(bareMacro(name)) : macros;
    const milters = specs.map((spec) => new Milter(spec, source, lists, warn));
    await Promise.all(milters.map((m) => m.open(config.get('queue_directory'))));
    return new MilterChain(milters);
  }

  get size(): number {
    return this.milters.length;
  }

  private async each(ev: (m: Milter) => Promise<string | undefined>): Promise<string | undefined> {
    for (const m of this.milters) {
      const r = await ev(m);
      if (r !== undefined) return r;
    }
    return undefined;
  }

  connect(name: string, address: string, port: number, family: 'inet' | 'inet6' | 'unix' | 'unknown'): Promise<string | undefined> {
    return this.each((m) => m.connectEvent(name, address, port, family));
  }

  helo(name: string): Promise<string | undefined> {
    return this.each((m) => m.heloEvent(name));
  }

  /** MAIL FROM: "<sender>" and the ESMTP parameters. */
  mail(sender: string, params: readonly string[] = []): Promise<string | undefined> {
    return this.each((m) => m.mailEvent([`<${sender}>`, ...params]));
  }

  rcpt(recipient: string, params: readonly string[] = []): Promise<string | undefined> {
    return this.each((m) => m.rcptEvent([`<${recipient}>`, ...params]));
  }

  data(): Promise<string | undefined> {
    return this.each((m) => m.dataEvent());
  }

  /**
   * The message through every milter in turn, each one's edits applied
   * before the next sees it. With `checks` (milter_header_checks) each new
   * header value is checked first; once they refuse or discard the message,
   * the further edits are skipped and the later milters do not see it (the
   * caller reads the outcome from `checks`).
   */
  async message(content: Buffer, checks?: MilterHeaderChecks): Promise<MilterMessageResult> {
    const msg = parseMessage(content);
    let sender: string | undefined;
    const add: string[] = [];
    const del: string[] = [];
    let hold: string | undefined;
    let discard = false;
    for (const m of this.milters) {
      const { reply, edits } = await m.messageEvent(msg.headers, msg.body);
      if (reply !== undefined && reply !== 'D' && !reply.startsWith('H')) return { reply, content, addRecipients: [], deleteRecipients: [] };
      for (const edit of edits) {
        const e = checks ? await checks.edit(edit) : edit;
        if (checks?.stopped) break;
        if (e === undefined) continue;
        applyContentEdits(msg, [e]);
        if (e.op === 'changeFrom') sender = e.address;
        else if (e.op === 'addRcpt') add.push(e.address);
        else if (e.op === 'delRcpt') del.push(e.address);
        else if (e.op === 'quarantine') hold ??= e.reason || 'milter triggers HOLD action';
      }
      // the checks' refusal or discard stands for this milter's reply too
      if (checks?.stopped) break;
      if (reply === 'D') discard = true;
      if (reply?.startsWith('H')) hold ??= reply.slice(1) || 'milter triggers HOLD action';
      if (discard) break;
    }
    return { discard, hold, content: formatMessage(msg), sender, addRecipients: add, deleteRecipients: del };
  }

  /** The transaction is over (RSET, the end of DATA, a refused MAIL). */
  abort(): void {
    for (const m of this.milters) m.abort();
  }

  quit(): void {
    for (const m of this.milters) m.quit();
  }
}
