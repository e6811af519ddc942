/**
 * milter_header_checks (Postfix 2.7, cleanup_milter.c's cleanup_milter_hbc_*
 * and header_body_checks.c): header_checks(5) tables applied to the headers
 * a milter adds, inserts or changes (SMFIR_ADDHEADER, SMFIR_INSHEADER,
 * SMFIR_CHGHEADER), never to the message's own headers. The lookup key is
 * the header as it will stand in the message ("Name: value", folded lines
 * joined with "\n").
 *
 * Actions, as in Postfix (postconf(5): every header_checks action except
 * PREPEND):
 *   REJECT [text]   the message is refused: "550 5.7.1 message content
 *                   rejected", or "550"/"451" and the text's own status
 *   DISCARD         the message is accepted and dropped
 *   HOLD            the message goes to the hold queue
 *   FILTER t:d      the content filter of the message
 *   REDIRECT addr   the message goes to addr only
 *   BCC addr        addr is added as a recipient
 *   WARN, INFO      logged only
 *   REPLACE text    text takes the header's place
 *   STRIP, IGNORE   the edit is dropped (STRIP is logged)
 *   PREPEND         logged, then "not implemented" (the header is kept)
 *   DUNNO, OK       nothing
 * After REJECT, DISCARD or REDIRECT no further action applies (Postfix clears
 * CLEANUP_FLAG_FILTER_ALL); after REJECT or DISCARD the milters' further
 * edits are skipped and later milters do not see the message. Each action is
 * logged as Postfix logs it:
 *
 *   ID: milter-header-hold: header X-Spam: yes from host[1.2.3.4]; from=<s> to=<r> proto=ESMTP helo=<h>: text
 */
import type { MilterEdit } from './milter-conn.js';
import { splitHeader } from './milter-message.js';

const MAP_CLASS = 'milter_header_checks';

/** One table of milter_header_checks (a Postern LookupTable fits). */
export interface HeaderCheckTable {
  lookup(key: string): Promise<string | undefined>;
}

/** What the log lines name: the message and its client. */
export interface HeaderCheckContext {
  readonly queueId: string;
  /** "name[address]". */
  readonly client: string;
  readonly sender: string;
  /** The last recipient (Postfix's state->recip), if any. */
  readonly recipient?: string;
  readonly protocol?: string;
  readonly helo?: string;
  /** The message is on hold already: HOLD is then not logged again. */
  readonly hold?: boolean;
}

export interface HeaderCheckLog {
  info(text: string): void;
  warn(text: string): void;
}

/** "5.7.1 text" unless the text starts with its own d.d.d status (dsn_prepend). */
function dsnPrepend(dsn: string, text: string): string {
  return /^[245]\.\d{1,3}\.\d{1,3}(\s|$)/.test(text) ? text : `${dsn} ${text}`;
}

/** The milter_header_checks of one message: its state and the actions taken. */
export class MilterHeaderChecks {
  /** REJECT (or a table that failed): the reply that refuses the message. */
  reply?: string;
  discard = false;
  /** HOLD was applied here. */
  held = false;
  filter?: string;
  redirect?: string;
  /** BCC recipients. */
  readonly bcc: string[] = [];
  /** CLEANUP_FLAG_FILTER_ALL: cleared by REJECT, DISCARD and REDIRECT. */
  private active = true;

  constructor(
    private readonly tables: readonly HeaderCheckTable[],
    private readonly log: HeaderCheckLog,
    private readonly ctx: HeaderCheckContext,
  ) {}

  /** The message is refused or discarded: the milters' further edits are skipped. */
  get stopped(): boolean {
    return this.reply !== undefined || this.discard;
  }

  /**
   * A milter's edit as the tables leave it: the same, with REPLACE's
   * header, or undefined when it is dropped (IGNORE, STRIP, a failed
   * lookup). Edits other than a new header value pass unchecked.
   */
  async edit(e: MilterEdit): Promise<MilterEdit | undefined> {
    if (e.op !== 'addHeader' && e.op !== 'insertHeader' && (e.op !== 'changeHeader' || e.value === '')) return e;
    const text = await this.header(`${e.name}:${e.value}`);
    if (text === undefined) return undefined;
    if (text === `${e.name}:${e.value}`) return e;
    const h = splitHeader(text)!;
    return e.op === 'changeHeader' ? { ...e, rename: h.name, value: h.value } : { ...e, name: h.name, value: h.value };
  }

  /** One header: the text to write, or undefined to drop it (hbc_header_checks). */
  private async header(line: string): Promise<string | undefined> {
    let action: string | undefined;
    try {
      for (const t of this.tables) {
        action = await t.lookup(line);
        if (action !== undefined) break;
      }
    } catch {
      this.log.warn(`${this.ctx.queueId}: ${MAP_CLASS} map lookup problem -- message not accepted, try again later`);
      this.reply ??= '451 4.3.0 Error: queue file write error';
      return undefined;
    }
    return action === undefined ? line : this.act(line, action.trim());
  }

  /** hbc_action with cleanup_milter_hbc_extend first. */
  private act(line: string, action: string): string | undefined {
    const sp = action.search(/[ \t]/);
    const cmd = (sp < 0 ? action : action.slice(0, sp)).toUpperCase();
    const text = sp < 0 ? '' : action.slice(sp).trimStart();
    // after REJECT, DISCARD or REDIRECT the extension answers every command: the header stays
    if (!this.active) return line;
    switch (cmd) {
      case 'BCC':
        if (!text.includes('@')) this.log.warn(`bad BCC address "${text}" in ${MAP_CLASS} map -- need user@domain`);
        else {
          this.logAction('bcc', line, text);
          this.bcc.push(text);
        }
        return line;
      case 'REJECT': {
        let reason = dsnPrepend('5.7.1', text || 'message content rejected');
        if (reason[0] !== '4' && reason[0] !== '5') {
          this.log.warn(`bad DSN action in ${text} -- need 4.x.x or 5.x.x`);
          reason = `4${reason.slice(1)}`;
        }
        this.active = false;
        this.logAction('reject', line, reason);
        // what smtpd answers for cleanup's CLEANUP_STAT_CONT (550) or CLEANUP_STAT_DEFER (451)
        this.reply = `${reason[0] === '4' ? 451 : 550} ${reason}`;
        return line;
      }
      case 'FILTER':
        if (!text) this.log.warn(`missing FILTER command argument in ${MAP_CLASS} map`);
        else if (!text.includes(':')) this.log.warn(`bad FILTER command ${text} in ${MAP_CLASS} -- need transport:destination`);
        else {
          this.filter = text;
          this.logAction('filter', line, text);
        }
        return line;
      case 'DISCARD':
        this.logAction('discard', line, text);
        this.discard = true;
        this.active = false;
        return line;
      case 'HOLD':
        if (!this.ctx.hold && !this.held && !this.discard) {
          this.logAction('hold', line, text);
          this.held = true;
        }
        return line;
      case 'REDIRECT':
        if (!text.includes('@')) this.log.warn(`bad REDIRECT target "${text}" in ${MAP_CLASS} map -- need user@domain`);
        else {
          this.redirect = text;
          this.logAction('redirect', line, text);
          this.active = false;
        }
        return line;
      case 'WARN':
        this.logAction('warning', line, text);
        return line;
      case 'INFO':
        this.logAction('info', line, text);
        return line;
      case 'REPLACE':
        if (!text) this.log.warn(`REPLACE action without text in ${MAP_CLASS} map`);
        else if (!splitHeader(text)) this.log.warn(`bad REPLACE header text "${text}" in ${MAP_CLASS} map -- need "headername: headervalue"`);
        else {
          this.logAction('replace', line, text);
          return text;
        }
        return line;
      case 'PREPEND':
        if (!text) this.log.warn(`PREPEND action without text in ${MAP_CLASS} map`);
        else if (!splitHeader(text)) this.log.warn(`bad PREPEND header text "${text}" in ${MAP_CLASS} map -- need "headername: headervalue"`);
        else {
          this.logAction('prepend', line, text);
          this.log.warn('the milter_header/body_checks prepend action is not implemented');
        }
        return line;
      case 'STRIP':
        this.logAction('strip', line, text);
        return undefined;
      case 'IGNORE':
        // not logged, as in cleanup(8)
        return undefined;
      case 'DUNNO':
      case 'OK':
        return line;
      default:
        this.log.warn(`unsupported command in ${MAP_CLASS} map: ${action}`);
        return line;
    }
  }

  /**
   * cleanup_milter_hbc_log. The text is always appended, as in Postfix, so
   * an action without text ends in ": ".
   */
  private logAction(action: string, line: string, text: string): void {
    const c = this.ctx;
    let out = `${c.queueId}: milter-header-${action}: header ${line.slice(0, 200).replace(/\n/g, ' ')} from ${c.client};`;
    out += ` from=<${c.sender}>`;
    if (c.recipient !== undefined) out += ` to=<${c.recipient}>`;
    if (c.protocol) out += ` proto=${c.protocol}`;
    if (c.helo) out += ` helo=<${c.helo}>`;
    out += `: ${text}`;
    this.log.info(out);
  }
}
