/**
 * deliver_token() and deliver_resolve_addr(): one destination from an
 * alias, a .forward file or an :include: file.
 *
 *   |command      pipe the message into command (local-command.ts)
 *   /file/name    append to a file; a trailing "/" means Maildir (local-file.ts)
 *   :include:/f   read more destinations from /f (local-include.ts)
 *   address       a local address (no domain, or a domain in mydestination)
 *                 is delivered by recursion (unless local-recipient.ts
 *                 resubmits it); any other address is forwarded as a new
 *                 message through cleanup (local-resubmit.ts)
 */
import { tok822SplitList, unquoteLocalPart, splitAddress } from '@postern/core';
import { deliverCommandToken } from './local-command.js';
import { deliverFileToken } from './local-file.js';
import { deliverInclude } from './local-include.js';
import { deliverRecipient } from './local-recipient.js';
import type { DeliverAttr, LeafResult, LocalRequest } from './local-state.js';

/** Splits an alias value or a .forward/:include: line into destinations (internal form). */
export function splitDestinations(text: string): string[] {
  return tok822SplitList(text)
    .map((t) => unquoteLocalPart(t).trim())
    .filter((t) => t !== '');
}

export async function deliverTokens(req: LocalRequest, attr: DeliverAttr, tokens: readonly string[], index: number): Promise<LeafResult[]> {
  const out: LeafResult[] = [];
  for (const token of tokens) out.push(...(await deliverToken(req, attr, token, index)));
  return out;
}

export async function deliverToken(req: LocalRequest, attr: DeliverAttr, token: string, index: number): Promise<LeafResult[]> {
  if (token.startsWith('|')) return [await deliverCommandToken(req, attr, token.slice(1))];
  if (token.startsWith('/')) return [await deliverFileToken(req, attr, token)];
  if (token.toLowerCase().startsWith(':include:')) return deliverInclude(req, attr, token.slice(9).trim(), index);
  return deliverAddress(req, attr, token, index);
}

/** True when `domain` is one of mydestination's names (case-insensitive). */
export function isLocalDomain(req: LocalRequest, domain: string): boolean {
  return req.settings.mydestination.includes(domain.toLowerCase().replace(/\.$/, ''));
}

/** deliver_resolve_addr(): local recursion or forwarding. */
export async function deliverAddress(req: LocalRequest, attr: DeliverAttr, token: string, index: number): Promise<LeafResult[]> {
  const address = token.startsWith('\\') ? token.slice(1) : token;
  const { domain } = splitAddress(address);
  const qualified = domain === undefined ? `${address}@${req.settings.myorigin}` : address;
  const target = splitAddress(qualified).domain ?? '';
  if (isLocalDomain(req, target)) {
    return deliverRecipient(req, { ...attr, level: attr.level + 1, recipient: qualified, expType: undefined, parentType: attr.expType }, index);
  }
  return deliverIndirect(req, attr, qualified, index);
}

/** deliver_indirect(): the address leaves as a new message through cleanup (local-resubmit.ts). */
export function deliverIndirect(req: LocalRequest, attr: DeliverAttr, qualified: string, index: number): LeafResult[] {
  if (req.dup.check(`forward ${attr.sender} ${qualified.toLowerCase()}`)) return [];
  const entry = { sender: attr.sender, delivered: attr.delivered, address: qualified, original: attr.original, index };
  req.forwards.add(entry);
  return [{ status: 'sent', dsn: '2.0.0', reason: 'forwarded', address: qualified, forward: entry }];
}
