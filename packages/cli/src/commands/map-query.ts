/**
 * postmap -b / -h / -m and -F: the query keys of a message read from stdin,
 * and base64 values.
 *
 * messageKeys (postmap -q - with -h, -b, -m): the input is an RFC 5322
 * message. -h makes each logical header line one key (a folded header keeps
 * its embedded newlines) up to the first non-header line; -b makes each body
 * line one key. With -m the input is also parsed as MIME, as header_checks
 * and body_checks see it: -h then also yields the headers of MIME parts and
 * of attached message/* messages, and -b no longer yields those lines.
 * Without -m, -b yields every line after the primary headers.
 *
 * -F: building a table, each value names files (separated by comma or white
 * space) whose contents, joined with a newline, are stored base64-encoded;
 * a missing file skips the entry with a warning. Querying and listing, values
 * are base64-decoded; a value that is not base64 is a warning, then fatal.
 */
import { readFileSync } from 'node:fs';

export interface KeyModes {
  readonly header: boolean;
  readonly body: boolean;
  readonly mime: boolean;
}

const HEADER = /^[!-9;-~]+:/;

function param(header: string, name: string): string | undefined {
  const m = new RegExp(`;\\s*${name}\\s*=\\s*(?:"([^"]*)"|([^\\s;]+))`, 'i').exec(header);
  return m ? (m[1] ?? m[2]) : undefined;
}

/** The lookup keys of `text` for the modes given, in message order. */
export function messageKeys(text: string, modes: KeyModes): string[] {
  const lines = text.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  if (lines[lines.length - 1] === '') lines.pop();
  const keys: string[] = [];
  const boundaries: string[] = [];
  // Where we are: a header block (primary, MIME part, attached message) or body text.
  const st: { block: 'primary' | 'part' | 'nested' | 'body' } = { block: 'primary' };
  let current: string | undefined;
  let contentType = '';
  const endHeader = () => {
    if (current === undefined) return;
    if (/^content-type:/i.test(current)) contentType = current.replace(/\n/g, ' ');
    if (modes.header && (st.block === 'primary' || modes.mime)) keys.push(current);
    current = undefined;
  };
  const endBlock = () => {
    endHeader();
    const type = /^content-type:\s*([^;\s]+)/i.exec(contentType)?.[1]?.toLowerCase() ?? '';
    const boundary = type.startsWith('multipart/') ? param(contentType, 'boundary') : undefined;
    if (boundary !== undefined) boundaries.push(boundary);
    const nested = type.startsWith('message/') && st.block === 'part' && modes.mime;
    contentType = '';
    st.block = nested ? 'nested' : 'body';
  };
  for (const line of lines) {
    if (st.block !== 'body') {
      if (current !== undefined && (line.startsWith(' ') || line.startsWith('\t'))) {
        current += `\n${line}`;
        continue;
      }
      if (HEADER.test(line)) {
        endHeader();
        current = line;
        continue;
      }
      // The end of a header block: the blank line is not a key; other text is body.
      const wasPrimary = st.block === 'primary';
      endBlock();
      if (wasPrimary && !modes.body && !modes.mime) break;
      if (line === '') continue;
    }
    if (modes.mime && line.startsWith('--')) {
      const hit = boundaries.findIndex((b) => line === `--${b}` || line === `--${b}--`);
      if (hit >= 0) {
        if (modes.body) keys.push(line);
        if (line.endsWith('--') && line === `--${boundaries[hit]}--`) boundaries.length = hit;
        else {
          boundaries.length = hit + 1;
          st.block = 'part';
        }
        continue;
      }
    }
    if (modes.body) keys.push(line);
  }
  if (st.block !== 'body') endHeader();
  return keys;
}

/** -F building: the base64 of the named files' contents, or the reason to skip the entry. */
export function encodeFiles(value: string): { value: string } | { error: string } {
  const parts: Buffer[] = [];
  for (const name of value.split(/[\s,]+/).filter(Boolean)) {
    try {
      parts.push(readFileSync(name));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      return { error: `open ${name}: ${code === 'ENOENT' ? 'No such file or directory' : code === 'EACCES' ? 'Permission denied' : (err as Error).message}` };
    }
  }
  const joined = Buffer.concat(parts.flatMap((p, i) => (i === 0 ? [p] : [Buffer.from('\n'), p])));
  return { value: joined.toString('base64') };
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** -F querying: the decoded value, or undefined when it is not base64. */
export function decodeValue(value: string): string | undefined {
  return BASE64.test(value) ? Buffer.from(value, 'base64').toString('utf8') : undefined;
}
