/**
 * cleanup(8) strict MIME checks (Postfix's mime_state.c error reports and
 * cleanup_message.c's cleanup_mime_error_callback()):
 *
 *   strict_7bit_headers          8-bit bytes in a message header
 *   strict_8bitmime_body         8-bit bytes in a body (part) that is 7bit,
 *                                declared or by default
 *   strict_8bitmime              both of the above
 *   strict_mime_encoding_domain  a multipart/* or message/rfc822 entity with a
 *                                quoted-printable or base64 encoding, or a
 *                                message/partial or message/external-body
 *                                one with 8bit or binary
 *
 * Each error is logged once, when it is found:
 *
 *   ID: reject: mime-error improper use of 8-bit data in message header: Subject: caf\xc3\xa9 from host[1.2.3.4]; from=<s> to=<r>
 *
 * and the message is rejected at the end of its content with the most
 * serious one ("5.6.0 improper use of 8-bit data in message header"),
 * unless a header or body check has already given a reason. The checks apply
 * only with MIME processing on (disable_mime_input_processing = no) and to
 * mail that header/body checks apply to.
 */
import type { ConfigView } from '@postern/core';

/** The MIME errors these checks report, as mime_state.h's MIME_ERR_* bits. */
export const MIME_ERR_8BIT_IN_HEADER = 1 << 2;
export const MIME_ERR_8BIT_IN_7BIT_BODY = 1 << 3;
export const MIME_ERR_ENCODING_DOMAIN = 1 << 4;

/** Error -> (status, text), the most serious first (mime_err_detail[]). */
const MIME_ERR_DETAIL: readonly (readonly [number, string, string])[] = [
  [MIME_ERR_8BIT_IN_HEADER, '5.6.0', 'improper use of 8-bit data in message header'],
  [MIME_ERR_8BIT_IN_7BIT_BODY, '5.6.0', 'improper use of 8-bit data in message body'],
  [MIME_ERR_ENCODING_DOMAIN, '5.6.0', 'invalid message/* or multipart/* encoding domain'],
];

/** The text of the most serious error in `errors` (mime_state_error()). */
export function mimeErrorText(errors: number): string {
  return MIME_ERR_DETAIL.find(([code]) => code & errors)?.[2] ?? 'unknown MIME error';
}

/** "5.6.0 text" for the most serious error in `errors` (mime_state_detail() + dsn_prepend()). */
export function mimeErrorReason(errors: number): string {
  const d = MIME_ERR_DETAIL.find(([code]) => code & errors);
  return d ? `${d[1]} ${d[2]}` : '5.6.0 unknown MIME error';
}

/** Which strict checks are on. */
export interface StrictMime {
  readonly headers8bit: boolean;
  readonly body8bit: boolean;
  readonly encodingDomain: boolean;
}

/** The strict_* settings, or undefined when none is on or MIME processing is off. */
export function strictMime(config: ConfigView): StrictMime | undefined {
  if (config.bool('disable_mime_input_processing')) return undefined;
  const all = config.bool('strict_8bitmime');
  const s: StrictMime = {
    headers8bit: all || config.bool('strict_7bit_headers'),
    body8bit: all || config.bool('strict_8bitmime_body'),
    encodingDomain: config.bool('strict_mime_encoding_domain'),
  };
  return s.headers8bit || s.body8bit || s.encodingDomain ? s : undefined;
}

/** A content transfer encoding and its domain (mime_encoding_map[]). */
export interface TransferEncoding {
  readonly encoding: string;
  readonly domain: '7bit' | '8bit' | 'binary';
}

export const SEVEN_BIT: TransferEncoding = { encoding: '7bit', domain: '7bit' };

const ENCODINGS: ReadonlyMap<string, TransferEncoding> = new Map([
  ['7bit', SEVEN_BIT],
  ['8bit', { encoding: '8bit', domain: '8bit' }],
  ['binary', { encoding: 'binary', domain: 'binary' }],
  ['base64', { encoding: 'base64', domain: '7bit' }],
  ['quoted-printable', { encoding: 'quoted-printable', domain: '7bit' }],
]);

/** The Content-Transfer-Encoding: header value; undefined when it is not one we know (the encoding stays as it was). */
export function transferEncoding(value: string): TransferEncoding | undefined {
  const token = /^\s*(?:\([^)]*\)\s*)*([^\s();]+)/.exec(value)?.[1];
  return token ? ENCODINGS.get(token.toLowerCase()) : undefined;
}

/** True when a multipart or message entity has an encoding its type forbids. */
export function badEncodingDomain(type: string, te: TransferEncoding): boolean {
  if (type === 'message/partial' || type === 'message/external-body') return te.domain !== '7bit';
  if (type === 'message/rfc822') return te.encoding !== te.domain;
  if (type.startsWith('multipart/')) return te.encoding !== te.domain;
  return false;
}

/** True when `buf` holds a byte with the high bit set. */
export function has8bit(buf: Buffer): boolean {
  for (const b of buf) if (b & 0x80) return true;
  return false;
}

/** At most 100 bytes of `buf` as Postfix logs them: control characters and invalid UTF-8 as "?". */
export function loggable(buf: Buffer): string {
  return new TextDecoder('utf-8')
    .decode(buf.subarray(0, 100))
    .replace(/[\u0000-\u001f\u007f\ufffd]/g, '?');
}
