/**
 * deliver_dotforward(): the user's .forward file, found through
 * forward_path (default `$home/.forward${recipient_delimiter}${extension},
 * $home/.forward`). Each template is expanded with $home, $user, $shell,
 * $recipient, $extension, $recipient_delimiter, $domain and $local (values
 * filtered by forward_expansion_filter); the first file that exists is
 * used. It is read with the user's rights. Lines starting with "#" are
 * comments; the rest are destinations as in aliases. Commands and files in
 * it run with the user's privileges (default_privs for root). A .forward
 * file is expanded once per request, so "\user" or "user" in it reaches
 * the mailbox; another local user named in it gets the message as a new
 * one through cleanup, with Delivered-To: this recipient (Postfix's owner
 * attribute), so that mutually forwarding users bounce with 5.4.6 "mail
 * forwarding loop" instead of filling a mailbox. A file without
 * destinations is ignored.
 */
import type { RecipientParts } from './local-recipient.js';
import { localExpand } from './local-expand.js';
import { destinationsOf } from './local-include.js';
import { privsOf } from './local-passwd.js';
import { readAsUser } from './local-read.js';
import type { DeliverAttr, LeafResult, LocalRequest, PasswdEntry } from './local-state.js';
import { deliverTokens } from './local-token.js';

export function expansionAttrs(attr: DeliverAttr, parts: RecipientParts, pw: PasswdEntry, req: LocalRequest): Record<string, string> {
  return {
    home: pw.home,
    user: pw.name,
    shell: pw.shell,
    recipient: attr.recipient,
    extension: parts.extension,
    recipient_delimiter: parts.delimiter || (parts.extension ? req.settings.recipientDelimiter[0] ?? '' : ''),
    domain: parts.domain,
    local: parts.local,
  };
}

export async function deliverDotForward(
  req: LocalRequest,
  attr: DeliverAttr,
  parts: RecipientParts,
  pw: PasswdEntry,
  index: number,
): Promise<LeafResult[] | undefined> {
  if (req.settings.forwardPath.length === 0) return undefined;
  if (req.dup.check(`forward-file ${pw.name}`)) return undefined;
  const vars = expansionAttrs(attr, parts, pw, req);
  const privs = privsOf(pw);
  const tried = new Set<string>();
  for (const template of req.settings.forwardPath) {
    const { text } = localExpand(template, vars, req.settings.forwardExpansionFilter);
    const path = text.trim();
    if (path === '' || !path.startsWith('/') || tried.has(path)) continue;
    tried.add(path);
    const read = await readAsUser(path, privs);
    if (read.status !== 'ok') {
      if (read.status === 'missing') continue;
      return [{ status: 'deferred', dsn: '4.3.0', reason: `cannot open forward file ${path}: ${read.error}`, address: attr.recipient }];
    }
    const tokens = destinationsOf(read.text);
    if (tokens.length === 0) continue;
    const child: DeliverAttr = { ...attr, expType: 'forward', privs, owner: pw.name, via: `forward file ${path}` };
    return deliverTokens(req, child, tokens, index);
  }
  return undefined;
}
