/**
 * Message header names (Postfix's header_opts.c and is_header.c): which
 * headers carry sender or recipient addresses, which are Resent- or MIME
 * headers, and the Content-Type parts that MIME processing needs. Shared by
 * cleanup(8) and the smtp(8)/lmtp(8) header checks.
 */

/** HDR_OPT_* flags of Postfix's header table. */
export interface HeaderInfo {
  /** Canonical name as Postfix spells it. */
  readonly name: string;
  readonly sender?: boolean;
  readonly recipient?: boolean;
  /** Recipients for sendmail -t. */
  readonly extract?: boolean;
  /** A Resent- header. */
  readonly resent?: boolean;
  /** A MIME header (Content-*, MIME-Version). */
  readonly mime?: boolean;
}

const TABLE: readonly HeaderInfo[] = [
  { name: 'Apparently-To', recipient: true },
  { name: 'Bcc', recipient: true, extract: true },
  { name: 'Cc', recipient: true, extract: true },
  { name: 'Content-Description', mime: true },
  { name: 'Content-Disposition', mime: true },
  { name: 'Content-ID', mime: true },
  { name: 'Content-Length' },
  { name: 'Content-Transfer-Encoding', mime: true },
  { name: 'Content-Type', mime: true },
  { name: 'Date' },
  { name: 'Delivered-To' },
  { name: 'Errors-To', sender: true },
  { name: 'From', sender: true },
  { name: 'Message-Id' },
  { name: 'Mime-Version', mime: true },
  { name: 'Received' },
  { name: 'Reply-To', recipient: true },
  { name: 'Resent-Bcc', recipient: true, extract: true, resent: true },
  { name: 'Resent-Cc', recipient: true, extract: true, resent: true },
  { name: 'Resent-Date', resent: true },
  { name: 'Resent-From', sender: true, resent: true },
  { name: 'Resent-Message-Id', resent: true },
  { name: 'Resent-Reply-To', recipient: true, resent: true },
  { name: 'Resent-Sender', sender: true, resent: true },
  { name: 'Resent-To', recipient: true, extract: true, resent: true },
  { name: 'Return-Path', sender: true },
  { name: 'Return-Receipt-To', sender: true },
  { name: 'Sender', sender: true },
  { name: 'To', recipient: true, extract: true },
];

const BY_NAME = new Map(TABLE.map((h) => [h.name.toLowerCase(), h]));

/** The header name of a logical header line, or undefined if it is not a header ("Name: value"). */
export function headerName(line: string): string | undefined {
  const m = /^([!-9;-~]+)[ \t]*:/.exec(line);
  return m ? m[1] : undefined;
}

/** Header table entry (by case-insensitive name). Any Content-* header counts as MIME. */
export function headerInfo(name: string): HeaderInfo | undefined {
  const lower = name.toLowerCase();
  const known = BY_NAME.get(lower);
  if (known) return known;
  if (lower.startsWith('content-')) return { name, mime: true };
  return undefined;
}

/** The boundary parameter of a Content-Type value, and whether it is multipart or message/rfc822. */
export function contentType(value: string): { type: string; boundary?: string } {
  const type = (/^\s*([^;\s]+)/.exec(value)?.[1] ?? 'text/plain').toLowerCase();
  const b = /;\s*boundary\s*=\s*(?:"([^"]*)"|([^;\s]+))/i.exec(value);
  return { type, boundary: b ? (b[1] ?? b[2]) : undefined };
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A header or body line as text: UTF-8 when valid, else one character per byte (as cleanup(8) decodes). */
export function decodeLine(buf: Buffer): string {
  try {
    return utf8.decode(buf);
  } catch {
    return buf.toString('latin1');
  }
}
