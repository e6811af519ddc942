/**
 * smtp_header_checks, smtp_mime_header_checks, smtp_nested_header_checks and
 * smtp_body_checks (lmtp_ likewise): Postfix's restricted header_checks(5)
 * and body_checks(5) of the SMTP client (header_body_checks.c and
 * smtp_proto.c), applied to the content as it is sent; the queued copy is
 * not changed. Only actions that change neither the delivery time nor the
 * destination work: DUNNO/OK, IGNORE, STRIP, INFO, WARN, REPLACE, PREPEND.
 * Any other action is logged as unsupported and ignored. Logged like
 * smtp_hbc_logger:
 *
 *   ID: warning: header X-Spam: yes: text
 *
 * A table lookup error defers the delivery ("local data error", 4.3.0).
 * The table lookup and the header table are shared with cleanup(8)
 * (mapsFind, headerName, headerInfo, contentType from @postern/address).
 */
import type { Logger, LookupTable } from '@postern/core';
import { contentType, decodeLine as decode, headerInfo, headerName, mapsFind } from '@postern/address';
import type { ClientSettings } from './params.js';

interface Checks {
  readonly tables: readonly LookupTable[];
  /** The parameter name, e.g. "smtp_header_checks" (the map class in warnings). */
  readonly name: string;
}

export interface HeaderBodyChecks {
  readonly header: Checks;
  readonly mime: Checks;
  readonly nested: Checks;
  readonly body: Checks;
}

/** The four tables of `prefix` (smtp or lmtp); undefined when all are empty. */
export function openHeaderBodyChecks(
  s: ClientSettings,
  open: (value: string) => readonly LookupTable[],
  prefix: string,
): HeaderBodyChecks | undefined {
  const one = (suffix: string): Checks => {
    const value = s.get(suffix);
    return { tables: value ? open(value) : [], name: `${prefix}_${suffix}` };
  };
  const c = { header: one('header_checks'), mime: one('mime_header_checks'), nested: one('nested_header_checks'), body: one('body_checks') };
  return Object.values(c).some((x) => x.tables.length) ? c : undefined;
}

type Where = 'header' | 'body';
/** Replacement text, null: drop the line, undefined: keep it. */
type Result = { prepend?: string; out?: string | null };

/** Postfix's hbc_action() with the smtp(8) call-backs. */
function hbcAction(log: Logger, queueId: string, mapClass: string, where: Where, line: string, action: string): Result {
  const sp = action.search(/[ \t]|$/);
  const cmd = action.slice(0, sp).toUpperCase();
  const args = action.slice(sp).trim();
  const logged = (what: string) => {
    const content = line.replace(/\n/g, ' ').slice(0, 200);
    log.info(args ? `${queueId}: ${what}: ${where} ${content}: ${args}` : `${queueId}: ${what}: ${where} ${content}`);
  };
  switch (cmd) {
    case 'WARN':
      logged('warning');
      return {};
    case 'INFO':
      logged('info');
      return {};
    case 'REPLACE':
    case 'PREPEND': {
      const verb = cmd.toLowerCase();
      if (!args) log.warn(`${cmd} action without text in ${mapClass} map`);
      else if (where === 'header' && headerName(args) === undefined)
        log.warn(`bad ${cmd} header text "${args}" in ${mapClass} map -- need "headername: headervalue"`);
      else {
        logged(verb);
        return cmd === 'REPLACE' ? { out: args } : { prepend: args };
      }
      return {};
    }
    case 'STRIP':
      logged('strip');
      return { out: null };
    case 'IGNORE':
      return { out: null };
    case 'DUNNO':
    case 'OK':
      return {};
    default:
      log.warn(`unsupported command in ${mapClass} map: ${action}`);
      return {};
  }
}

type HeaderClass = 'primary' | 'multipart' | 'nested';
type Mode = HeaderClass | 'body';

/**
 * The content (LF line ends, as queued) with the checks applied. A small MIME
 * walk finds the part headers (smtp_mime_header_checks) and the headers of
 * attached messages (smtp_nested_header_checks); MIME headers (Content-*,
 * MIME-Version) anywhere meet smtp_mime_header_checks, as in Postfix.
 */
export async function applyHeaderBodyChecks(checks: HeaderBodyChecks, content: Buffer, log: Logger, queueId: string): Promise<Buffer> {
  const out: Buffer[] = [];
  const boundaries: string[] = [];
  let mode = 'primary' as Mode;
  let partType = contentType('');
  let pending: { text: string; bufs: Buffer[] } | undefined;
  const put = (text: string) => out.push(Buffer.from(`${text}\n`));

  /** The line as it goes out: unchanged (true), replaced (a string) or dropped (null). */
  const check = async (c: Checks, where: Where, line: string): Promise<string | null | true> => {
    if (!c.tables.length) return true;
    let hit;
    try {
      hit = await mapsFind(c.tables, line);
    } catch (err) {
      // Postfix: the warning, then the delivery fails as a local data error
      log.warn(`${queueId}: ${c.name.split('_')[0]} ${where} checks lookup error: ${(err as Error).message}`);
      throw err;
    }
    if (!hit) return true;
    const r = hbcAction(log, queueId, c.name, where, line, hit.value.trim());
    if (r.prepend !== undefined) put(r.prepend);
    return r.out === undefined ? true : r.out;
  };
  const flushHeader = async () => {
    if (pending === undefined) return;
    const { text, bufs } = pending;
    pending = undefined;
    const name = headerName(text) ?? '';
    if (name.toLowerCase() === 'content-type') partType = contentType(text.slice(text.indexOf(':') + 1));
    const mime = headerInfo(name)?.mime || mode === 'multipart';
    const result = await check(mime ? checks.mime : mode === 'nested' ? checks.nested : checks.header, 'header', text);
    if (result === true) out.push(...bufs);
    else if (result !== null) put(result);
  };
  const body = async (buf: Buffer, line: string) => {
    const result = await check(checks.body, 'body', line);
    if (result === true) out.push(buf);
    else if (result !== null) put(result);
  };
  const endOfHeaders = () => {
    if (partType.type.startsWith('multipart/') && partType.boundary) {
      boundaries.push(partType.boundary);
      mode = 'body';
    } else mode = partType.type === 'message/rfc822' ? 'nested' : 'body';
    partType = contentType('');
  };

  for (let start = 0; start < content.length; ) {
    const lf = content.indexOf(0x0a, start);
    const end = lf < 0 ? content.length : lf + 1;
    const buf = content.subarray(start, end);
    start = end;
    const line = decode(buf.subarray(0, lf < 0 ? buf.length : buf.length - 1)).replace(/\r$/, '');
    if (mode !== 'body') {
      if (pending !== undefined && /^[ \t]/.test(line)) {
        pending.text += `\n${line}`;
        pending.bufs.push(buf);
        continue;
      }
      await flushHeader();
      if (headerName(line) !== undefined) {
        pending = { text: line, bufs: [buf] };
        continue;
      }
      // Postfix's mime_state: the blank line that ends the headers is a body line (body checks see it);
      // primary headers that end without one get one.
      const primary = mode === 'primary';
      endOfHeaders();
      if (primary && line !== '') await body(Buffer.from('\n'), '');
    }
    // "--boundary" and "--boundary--", trailing cruft ignored (as mime_state does)
    for (let k = boundaries.length - 1; k >= 0; k--) {
      if (!line.startsWith(`--${boundaries[k]}`)) continue;
      const close = line.startsWith('--', boundaries[k]!.length + 2);
      boundaries.length = close ? k : k + 1;
      if (!close) mode = 'multipart';
      break;
    }
    await body(buf, line);
  }
  await flushHeader();
  return Buffer.concat(out);
}

