/**
 * header_checks(5) / body_checks(5) actions (Postfix's cleanup_act()):
 * REJECT, WARN, INFO, FILTER, DISCARD, HOLD, PREPEND, REPLACE, REDIRECT, BCC,
 * IGNORE, DUNNO and OK, each logged as Postfix logs it:
 *
 *   ID: reject: header Subject: spam from host[1.2.3.4]; from=<s> to=<r> proto=ESMTP helo=<h>: 5.7.1 message content rejected
 */
import type { Logger } from '@postern/core';
import { headerName } from './cleanup-header.js';

export type ActContext = 'header' | 'body';

/** The per-message state that actions change. */
export interface ActState {
  readonly queueId: string;
  /** "name[addr]" or "local". */
  readonly logOrigin: string;
  readonly sender: string;
  readonly firstRecipient?: string;
  readonly protocol?: string;
  readonly helo?: string;
  /** "5.7.1 message content rejected" etc.; set by REJECT. */
  reason?: string;
  discard: boolean;
  hold: boolean;
  filter?: string;
  redirect?: string;
  readonly bcc: string[];
}

export interface ActOutcome {
  /** IGNORE: remove the header or body line. */
  readonly drop?: boolean;
  /** REPLACE: use this text instead. */
  readonly replace?: string;
  /** PREPEND: output this text before the current line. */
  readonly prepend?: string;
}

const CONTENT_REJECTED = '5.7.1 message content rejected';

/** Prepends `dsn` unless `text` starts with its own d.d.d status (dsn_prepend). */
export function dsnPrepend(dsn: string, text: string): string {
  return /^[245]\.\d{1,3}\.\d{1,3}(\s|$)/.test(text) ? text : `${dsn} ${text}`;
}

function actLog(log: Logger, s: ActState, action: string, context: ActContext, content: string, text?: string): void {
  let line = `${s.queueId}: ${action}: ${context} ${content.slice(0, 200)} from ${s.logOrigin};`;
  line += ` from=<${s.sender}>`;
  if (s.firstRecipient !== undefined) line += ` to=<${s.firstRecipient}>`;
  if (s.protocol) line += ` proto=${s.protocol}`;
  if (s.helo) line += ` helo=<${s.helo}>`;
  if (text) line += `: ${text}`;
  log.info(line);
}

/** Applies the table result `value` for `content` (a logical header or a body line). */
export function cleanupAct(
  log: Logger,
  state: ActState,
  context: ActContext,
  content: string,
  value: string,
  mapClass: string,
): ActOutcome {
  const trimmed = value.trim();
  const sp = trimmed.search(/[ \t]/);
  const command = (sp < 0 ? trimmed : trimmed.slice(0, sp)).toUpperCase();
  const text = sp < 0 ? '' : trimmed.slice(sp).trim();
  // Header content is logged unfolded, as one line.
  const shown = content.replace(/\n/g, ' ');

  switch (command) {
    case 'REJECT': {
      let reason = text ? dsnPrepend('5.7.1', text) : CONTENT_REJECTED;
      if (reason[0] !== '4' && reason[0] !== '5') {
        log.warn(`bad DSN action in ${text} -- need 4.x.x or 5.x.x`);
        reason = `4${reason.slice(1)}`;
      }
      state.reason = reason;
      state.filter = undefined;
      actLog(log, state, 'reject', context, shown, reason);
      return {};
    }
    case 'WARN':
      actLog(log, state, 'warning', context, shown, text);
      return {};
    case 'INFO':
      actLog(log, state, 'info', context, shown, text);
      return {};
    case 'FILTER':
      if (!text) log.warn(`missing FILTER command argument in ${mapClass} map`);
      else if (!text.includes(':')) log.warn(`bad FILTER command ${text} in ${mapClass} -- need transport:destination`);
      else {
        state.filter = text;
        actLog(log, state, 'filter', context, shown, text);
      }
      return {};
    case 'DISCARD':
      actLog(log, state, 'discard', context, shown, text);
      state.discard = true;
      state.filter = undefined;
      return {};
    case 'HOLD':
      if (!state.hold && !state.discard) {
        actLog(log, state, 'hold', context, shown, text);
        state.hold = true;
      }
      return {};
    case 'PREPEND':
      if (!text) log.warn(`PREPEND action without text in ${mapClass} map`);
      else if (context === 'header' && headerName(text) === undefined)
        log.warn(`bad PREPEND header text "${text}" in ${mapClass} map -- need "headername: headervalue"`);
      else {
        actLog(log, state, 'prepend', context, shown, text);
        return { prepend: text };
      }
      return {};
    case 'REPLACE':
      if (!text) log.warn(`REPLACE action without text in ${mapClass} map`);
      else if (context === 'header' && headerName(text) === undefined)
        log.warn(`bad REPLACE header text "${text}" in ${mapClass} map -- need "headername: headervalue"`);
      else {
        actLog(log, state, 'replace', context, shown, text);
        return { replace: text };
      }
      return {};
    case 'REDIRECT':
      if (!text.includes('@')) log.warn(`bad REDIRECT target "${text}" in ${mapClass} map -- need user@domain`);
      else {
        state.redirect = text;
        state.filter = undefined;
        actLog(log, state, 'redirect', context, shown, text);
      }
      return {};
    case 'BCC':
      if (!text.includes('@')) log.warn(`bad BCC address "${text}" in ${mapClass} map -- need user@domain`);
      else {
        state.bcc.push(text);
        actLog(log, state, 'bcc', context, shown, text);
      }
      return {};
    case 'IGNORE':
      return { drop: true };
    case 'DUNNO':
    case 'OK':
      return {};
    default:
      log.warn(`unknown command in ${mapClass} map: ${trimmed}`);
      return {};
  }
}
