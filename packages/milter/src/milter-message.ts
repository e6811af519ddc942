/**
 * A message as milters see and edit it (Postfix's cleanup_milter.c): the
 * header list and the body, read from and written back to content with LF
 * line ends; the header and body edits of one milter applied in order.
 */
import type { MilterEdit } from './milter-conn.js';

export interface MilterHeader {
  readonly name: string;
  /** Everything after the colon, folded lines joined with "\n". */
  readonly value: string;
}

export interface MilterMessage {
  headers: MilterHeader[];
  body: Buffer;
}

const NAME = /^([\x21-\x39\x3b-\x7e]+)[ \t]*:/;

/** Splits LF content into its headers and body (a line that is no header ends the headers). */
export function parseMessage(content: Buffer): MilterMessage {
  const headers: { name: string; value: string }[] = [];
  let off = 0;
  while (off < content.length) {
    const nl = content.indexOf(0x0a, off);
    const end = nl < 0 ? content.length : nl;
    const line = content.subarray(off, end).toString('utf8');
    if ((line.startsWith(' ') || line.startsWith('\t')) && headers.length > 0) {
      headers[headers.length - 1]!.value += `\n${line}`;
      off = end + 1;
      continue;
    }
    const m = NAME.exec(line);
    if (!m) {
      // the empty line between headers and body is not part of either
      if (line === '') off = end + 1;
      break;
    }
    headers.push({ name: m[1]!, value: line.slice(m[0].length) });
    off = end + 1;
  }
  return { headers, body: Buffer.from(content.subarray(Math.min(off, content.length))) };
}

/** "Name: value" as a header (is_header): its name and what follows the colon; undefined when it is none. */
export function splitHeader(text: string): MilterHeader | undefined {
  const m = NAME.exec(text);
  return m ? { name: m[1]!, value: text.slice(m[0].length) } : undefined;
}

export function formatMessage(msg: MilterMessage): Buffer {
  const head = msg.headers.map((h) => `${h.name}:${h.value}\n`).join('');
  return Buffer.concat([Buffer.from(`${head}\n`, 'utf8'), msg.body]);
}

/** Applies the header and body edits (envelope edits are the caller's). */
export function applyContentEdits(msg: MilterMessage, edits: readonly MilterEdit[]): void {
  for (const e of edits) {
    switch (e.op) {
      case 'addHeader':
        msg.headers.push({ name: e.name, value: e.value });
        break;
      case 'insertHeader':
        msg.headers.splice(Math.min(e.index, msg.headers.length), 0, { name: e.name, value: e.value });
        break;
      case 'changeHeader': {
        // the index-th header of that name (1-based); none: a new value is added
        let seen = 0;
        const at = msg.headers.findIndex((h) => h.name.toLowerCase() === e.name.toLowerCase() && ++seen === Math.max(1, e.index));
        if (at < 0) {
          if (e.value !== '') msg.headers.push({ name: e.rename ?? e.name, value: e.value });
        } else if (e.value === '') msg.headers.splice(at, 1);
        else msg.headers[at] = { name: e.rename ?? msg.headers[at]!.name, value: e.value };
        break;
      }
      case 'replaceBody':
        msg.body = e.body;
        break;
      default:
        break;
    }
  }
}
