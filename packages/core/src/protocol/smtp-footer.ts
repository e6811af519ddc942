/**
 * The SMTP server side's reply footer and command filter, shared by smtpd(8)
 * and postscreen(8).
 *
 * appendReplyFooter() is Postfix's smtp_reply_footer(3): a template whose
 * `$name` macros are expanded and whose two-character `\n` starts a new reply
 * line with the reply code and enhanced status code of the last line; `\c`
 * at the start continues the last line instead. The reply's last line code
 * gets '-' once a line is added.
 *
 * filterCommand() is smtpd_command_filter / postscreen_command_filter: the
 * command line, leading blanks removed, is looked up in the table and a
 * result replaces it (logged as "replacing command"). escapeText() is how
 * both log what a client sent.
 */
import type { LookupTable } from '../contracts/table.js';
import type { ConfigView } from '../contracts/config.js';
import { expandText } from '../config/expand.js';

/** The macros a footer expands ($client_address...); a name it lacks expands to nothing. */
export type FooterMacros = Readonly<Record<string, string>>;

const REPLY_LINE = /^[0-9]{3}[ -]/;
const DSN = /^([245])\.[0-9]{1,3}\.[0-9]{1,3}(?= |$)/;

/**
 * `reply` (lines joined by CRLF) with `template` appended; the reply
 * unchanged when it is malformed (no NNN code) or the template empty.
 */
export function appendReplyFooter(reply: string, template: string, macros: FooterMacros): string {
  if (template === '') return reply;
  const lines = reply.split('\r\n');
  if (!lines.every((l) => REPLY_LINE.test(l))) return reply;
  const last = lines.length - 1;
  const code = (lines[last] as string).slice(0, 3);
  const dsn = DSN.exec((lines[last] as string).slice(4))?.[0];
  let body = template;
  const added: string[] = [];
  if (body.startsWith('\\c')) body = body.slice(2);
  else added.push('');
  const parts = body.split('\\n');
  const expand = (t: string): string => expandText(t, () => undefined, { extra: macros, recurse: false });
  let out = [...lines];
  try {
    out[last] = added.length === 0 ? `${out[last]}${expand(parts[0] as string)}` : (out[last] as string);
    const rest = added.length === 0 ? parts.slice(1) : parts;
    out = out.concat(rest.map((p) => `${code} ${dsn ? `${dsn} ` : ''}${expand(p)}`));
  } catch {
    return reply; // a template syntax error: the reply without the footer (smtp_reply_footer returns -2)
  }
  return out.map((l, i) => (i < out.length - 1 ? `${l.slice(0, 3)}-${l.slice(4)}` : l)).join('\r\n');
}

/**
 * The footer template for a 4xx/5xx reply: the first *_reject_footer_maps
 * table that knows the reply text, else the *_reject_footer parameter;
 * '' for other replies or when neither is set.
 */
export async function footerTemplate(reply: string, maps: readonly LookupTable[], footer: string): Promise<string> {
  if (reply[0] !== '4' && reply[0] !== '5') return '';
  for (const table of maps) {
    const found = await table.lookup(reply);
    if (found !== undefined) return found;
  }
  return footer;
}

/** Postfix 3.7.11's smtpd_forbidden_commands default (postscreen_forbidden_commands follows it). */
export const SMTPD_FORBIDDEN_COMMANDS_DEFAULT = 'CONNECT GET POST regexp:{{/^[^A-Z]/ Bogus}}';

/** Postfix's smtpd_expansion_filter default (mail_params.h): tab and printable ASCII, before unescape(). */
export const SMTPD_EXPANSION_FILTER_DEFAULT = '\\t\\40!"#$%&\'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\\\]^_`abcdefghijklmnopqrstuvwxyz{|}~';

/** Postfix's unescape(3): \a \b \f \n \r \t \v, \ooo (up to three octal digits), \x -> x. */
export function unescape(text: string): string {
  const named: Record<string, string> = { a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v' };
  return text.replace(/\\([0-7]{1,3}|[\s\S]?)/g, (_, c: string) => {
    if (c === '') return '';
    if (/^[0-7]/.test(c)) return String.fromCharCode(parseInt(c, 8) & 0xff);
    return named[c] ?? c;
  });
}

/**
 * A macro value filter of smtpd_expand.c (smtpd_expansion_filter,
 * postscreen_expansion_filter): `filter` is the parameter's value, which is
 * unescaped; every character of a value outside it becomes '_'.
 */
export function expansionFilter(filter: string): (value: string) => string {
  const allowed = new Set(unescape(filter));
  return (value) => {
    let out = '';
    for (const ch of value) out += allowed.has(ch) ? ch : '_';
    return out;
  };
}

/** The reply-time macros of smtpd_expand.c that depend on the clock: $localtime ("Mmm dd hh:mm:ss"). */
export function localtimeMacro(now = new Date()): string {
  const mon = now.toLocaleString('en-US', { month: 'short' });
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${mon} ${p(now.getDate())} ${p(now.getHours())}:${p(now.getMinutes())}:${p(now.getSeconds())}`;
}

/** What filterCommand() did: the line to parse, and the log line when it replaced one. */
export interface FilteredCommand {
  readonly line: string;
  readonly logged?: string;
}

/**
 * Applies a command filter table to one command line; throws what the
 * table throws (the caller logs "lookup error" and drops the client).
 */
export async function filterCommand(table: LookupTable | undefined, line: string, namaddr: string): Promise<FilteredCommand> {
  if (!table) return { line };
  const found = await table.lookup(line.replace(/^[ \t]+/, ''));
  if (found === undefined) return { line };
  return { line: found, logged: `${namaddr}: replacing command "${line.slice(0, 100)}" with "${found.slice(0, 100)}"` };
}

/** Opens the table a *_command_filter parameter names (undefined when empty). */
export function openCommandFilter(config: ConfigView, param: string, open: (spec: string) => LookupTable): LookupTable | undefined {
  const spec = config.get(param).trim();
  return spec ? open(spec) : undefined;
}

/** The escape(3) of Postfix's logs: C escapes, \ooo for other non-printables. */
export function escapeText(buf: Buffer | string, limit = 100): string {
  const b = typeof buf === 'string' ? Buffer.from(buf, 'latin1') : buf;
  let out = '';
  for (const c of b.subarray(0, limit)) {
    if (c === 0x0d) out += '\\r';
    else if (c === 0x0a) out += '\\n';
    else if (c === 0x09) out += '\\t';
    else if (c === 0x5c) out += '\\\\';
    else if (c < 0x20 || c >= 0x7f) out += `\\${c.toString(8).padStart(3, '0')}`;
    else out += String.fromCharCode(c);
  }
  return out;
}
