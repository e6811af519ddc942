/**
 * trivial-rewrite(8) address rewriting (Postfix's rewrite.c): turns an address
 * into the standard user@fully.qualified.domain form.
 *
 *  - strips a source route: `@site1,@site2:user@domain` -> `user@domain`;
 *  - without an `@`: `site!user` -> `user@site` (swap_bangpath), else
 *    `user%domain` -> `user@domain` (allow_percent_hack), else appends
 *    `@$myorigin` (append_at_myorigin);
 *  - `user@host` without a dot gets `.$mydomain` (append_dot_mydomain);
 *  - a trailing dot is removed from the domain.
 *
 * In the `remote` context (headers of mail from clients that do not match
 * local_header_rewrite_clients) both the origin and the domain to append are
 * $remote_header_rewrite_domain: when that is empty, nothing is appended.
 */
import { firstUnquoted, lastUnquoted } from './trivial-rewrite-address.js';

export interface RewriteRules {
  readonly swapBangpath: boolean;
  readonly percentHack: boolean;
  readonly appendAtOrigin: boolean;
  readonly appendDotDomain: boolean;
  /** `@` + this is appended to a bare local part ("" = never). */
  readonly origin: string;
  /** `.` + this is appended to a domain without a dot ("" = never). */
  readonly domain: string;
}

/** Rewrites one address (external form, as it appears in a header or SMTP command). */
export function rewriteAddress(address: string, rules: RewriteRules): string {
  let addr = address.trim();
  // The null address and a quoted empty string stay as they are.
  if (addr === '' || addr === '""') return addr;
  // A lone "@" is treated as the null address.
  if (addr === '@') return '';

  // Strip a source route: @a,@b:user@domain.
  if (addr.startsWith('@')) {
    const colon = firstUnquoted(addr, ':');
    if (colon > 0 && colon < addr.length - 1) addr = addr.slice(colon + 1);
  }

  if (lastUnquoted(addr, '@') < 0) {
    const bang = rules.swapBangpath ? firstUnquoted(addr, '!') : -1;
    const percent = rules.percentHack ? lastUnquoted(addr, '%') : -1;
    if (bang >= 0) {
      addr = `${addr.slice(bang + 1)}@${addr.slice(0, bang)}`;
    } else if (percent >= 0) {
      addr = `${addr.slice(0, percent)}@${addr.slice(percent + 1)}`;
    } else if (rules.appendAtOrigin && rules.origin) {
      addr = `${addr}@${rules.origin}`;
    }
  }

  const at = lastUnquoted(addr, '@');
  if (rules.appendDotDomain && rules.domain && at >= 0 && at < addr.length - 1) {
    const domain = addr.slice(at + 1);
    if (!domain.startsWith('[') && !domain.includes('.')) addr = `${addr}.${rules.domain}`;
  }

  // Strip a trailing dot, but leave "..", "@." (bogus forms) alone for diagnostics.
  if (addr.endsWith('.') && addr.length > 1 && !addr.endsWith('..') && !addr.endsWith('@.')) addr = addr.slice(0, -1);
  return addr;
}
