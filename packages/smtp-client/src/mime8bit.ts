/**
 * 8BITMIME downgrade (Postfix's mime_state.c with MIME_OPT_DOWNGRADE): when
 * the server does not announce 8BITMIME and the content has 8-bit bytes,
 * each leaf body part declared 8bit (or with no Content-Transfer-Encoding)
 * that holds 8-bit bytes is encoded as quoted-printable, its
 * Content-Transfer-Encoding header set to quoted-printable; multipart
 * bodies are walked part by part. disable_mime_output_conversion = yes turns
 * this off. The content is the queue's: LF line ends.
 */
import { isAscii } from 'node:buffer';
import { headerEnd } from './generic.js';

/** True when the content has a byte above 127 (a native scan: it runs over every message). */
export function has8bit(data: Buffer): boolean {
  return !isAscii(data);
}

/** Quoted-printable (RFC 2045) of LF-terminated text, lines at most 76 characters. */
export function quotedPrintable(body: Buffer): Buffer {
  const text = body.toString('latin1');
  const lines = text.split('\n');
  const out: string[] = [];
  lines.forEach((line, idx) => {
    let enc = '';
    for (let i = 0; i < line.length; i++) {
      const c = line.charCodeAt(i);
      const last = i === line.length - 1;
      let piece: string;
      if (c === 0x3d || c > 126 || (c < 32 && c !== 9) || ((c === 32 || c === 9) && last)) piece = `=${c.toString(16).toUpperCase().padStart(2, '0')}`;
      else piece = line[i]!;
      enc += piece;
    }
    let rest = enc;
    let folded = '';
    while (rest.length > 76) {
      let cut = 75;
      const eq = rest.lastIndexOf('=', cut - 1);
      if (eq > cut - 3) cut = eq;
      folded += `${rest.slice(0, cut)}=\n`;
      rest = rest.slice(cut);
    }
    folded += rest;
    out.push(folded);
    void idx;
  });
  return Buffer.from(out.join('\n'), 'latin1');
}

interface Headers {
  readonly text: string;
  get(name: string): string | undefined;
}

function parseHeaders(text: string): Headers {
  return {
    text,
    get(name) {
      const re = new RegExp(`^${name}:([^\\n]*(?:\\n[ \\t][^\\n]*)*)`, 'im');
      const m = re.exec(text);
      return m ? m[1]!.replace(/\n[ \t]/g, ' ').trim() : undefined;
    },
  };
}

function setEncoding(head: string): string {
  if (/^content-transfer-encoding:/im.test(head)) {
    return head.replace(/^content-transfer-encoding:[^\n]*(\n[ \t][^\n]*)*/im, 'Content-Transfer-Encoding: quoted-printable');
  }
  return `${head}Content-Transfer-Encoding: quoted-printable\n`;
}

/** Downgrades one entity (headers + body); `top` adds MIME-Version when missing. */
function downgradeEntity(entity: Buffer, top: boolean): Buffer {
  const end = headerEnd(entity);
  let head = entity.subarray(0, end).toString('latin1');
  const body = entity.subarray(end);
  const h = parseHeaders(head);
  const type = (h.get('content-type') ?? 'text/plain').toLowerCase();
  const cte = (h.get('content-transfer-encoding') ?? '7bit').toLowerCase();
  if (type.startsWith('multipart/')) {
    const b = /boundary="?([^";]+)"?/i.exec(h.get('content-type') ?? '');
    if (!b) return entity;
    return Buffer.concat([Buffer.from(head, 'latin1'), downgradeMultipart(body, b[1]!.trim())]);
  }
  if (type.startsWith('message/') || !has8bit(body) || (cte !== '8bit' && cte !== '7bit')) return entity;
  const blank = head.endsWith('\n\n') ? '\n' : '';
  if (blank) head = head.slice(0, -1);
  head = setEncoding(head);
  if (top && !/^mime-version:/im.test(head)) head += 'MIME-Version: 1.0\n';
  return Buffer.concat([Buffer.from(head + blank, 'latin1'), quotedPrintable(body)]);
}

function downgradeMultipart(body: Buffer, boundary: string): Buffer {
  const text = body.toString('latin1');
  const delim = `--${boundary}`;
  const re = new RegExp(`(^|\\n)${delim.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(--)?[ \\t]*(?=\\n|$)`, 'g');
  const out: Buffer[] = [];
  let last = 0;
  let inPart = false;
  for (const m of text.matchAll(re)) {
    const start = m.index! + m[1]!.length;
    const chunk = body.subarray(last, m.index!);
    out.push(inPart ? downgradeEntity(chunk, false) : chunk);
    out.push(body.subarray(m.index!, start + m[0].length - m[1]!.length));
    last = start + m[0].length - m[1]!.length;
    if (body[last] === 0x0a) {
      out.push(body.subarray(last, last + 1));
      last++;
    }
    inPart = !m[2];
  }
  out.push(body.subarray(last));
  return Buffer.concat(out);
}

/** The content as sent to a server without 8BITMIME. */
export function downgrade8bit(message: Buffer): Buffer {
  return downgradeEntity(message, true);
}
