/**
 * deliver_recipient(): one local recipient, in Postfix's order:
 *
 *   1. loop detection: a Delivered-To: header naming this address bounces
 *      with 5.4.6 "mail forwarding loop for ADDRESS"; more than
 *      MAX_LEVEL nested expansions bounce the same way;
 *   2. duplicate suppression within the request;
 *   3. aliases (alias_maps): full local part, then without extension;
 *   4. an address that another user's .forward (or a list with an owner-
 *      alias) names, or that an :include: file names, is resubmitted as a
 *      new message through cleanup (deliver_indirect), carrying the
 *      Delivered-To: that breaks forwarding loops;
 *   5. the user's .forward (forward_path);
 *   6. mailbox_transport_maps, mailbox_transport: every recipient (in
 *      passwd or not) is handed to that delivery agent (deliver_pass);
 *   7. the user's mailbox (mailbox_command_maps, mailbox_command,
 *      home_mailbox, mail_spool_directory);
 *   8. unknown user: fallback_transport_maps, fallback_transport,
 *      luser_relay, else bounce 5.1.1 unknown user: "NAME".
 */
import { splitAddress, splitLocalPart } from '@postern/address';
import { deliverAlias } from './local-alias.js';
import { localExpand } from './local-expand.js';
import { deliverDotForward } from './local-forward.js';
import { deliverMailboxFor } from './local-mailbox.js';
import { deliverPass, transportFor } from './local-pass.js';
import { getpwnam } from './local-passwd.js';
import type { DeliverAttr, LeafResult, LocalRequest } from './local-state.js';
import { deliverAddress, deliverIndirect } from './local-token.js';

/** Nested expansions allowed before local(8) gives up (alias/forward loops). */
export const MAX_LEVEL = 100;

export interface RecipientParts {
  /** The full local part as given. */
  readonly local: string;
  readonly domain: string;
  /** Lowercased local part without extension. */
  readonly user: string;
  /** Extension without the delimiter ("" when none). */
  readonly extension: string;
  /** The delimiter character that separated it ("" when none). */
  readonly delimiter: string;
}

export function recipientParts(address: string, req: LocalRequest): RecipientParts {
  const { local, domain } = splitAddress(address);
  const split = splitLocalPart(local, req.settings.recipientDelimiter, { doubleBounceSender: req.settings.doubleBounceSender });
  return {
    local,
    domain: domain ?? '',
    user: (split ? split.base : local).toLowerCase(),
    extension: split ? split.extension.slice(1) : '',
    delimiter: split ? split.extension[0]! : '',
  };
}

const bounce = (dsn: string, reason: string, address?: string): LeafResult => ({ status: 'bounced', dsn, reason, address });

export async function deliverRecipient(req: LocalRequest, attr: DeliverAttr, index: number): Promise<LeafResult[]> {
  const address = attr.recipient;
  if (req.deliveredTo.has(address.toLowerCase())) return [bounce('5.4.6', `mail forwarding loop for ${address}`, address)];
  if (attr.level > MAX_LEVEL) return [bounce('5.4.6', `mail forwarding loop for ${address}`, address)];
  if (req.dup.check(`recipient ${attr.level} ${address.toLowerCase()}`)) return [];

  const parts = recipientParts(address, req);
  const here: DeliverAttr = { ...attr, delivered: address };

  const aliased = await deliverAlias(req, here, parts, index);
  if (aliased) return aliased;
  if ((attr.owner !== undefined && attr.owner.toLowerCase() !== parts.user) || attr.parentType === 'include') {
    return deliverIndirect(req, attr, address, index);
  }

  const pw = await getpwnam(req.tables, parts.user);
  if (pw) {
    const forwarded = await deliverDotForward(req, here, parts, pw, index);
    if (forwarded) return forwarded;
  }
  // mailbox_transport(_maps): every local recipient, in passwd or not (deliver_mailbox())
  const s = req.settings;
  const passed = await passTo(req, here, parts, index, 'mailbox', s.mailboxTransportMaps, s.mailboxTransport);
  if (passed) return passed;
  if (pw) return [await deliverMailboxFor(req, here, parts, pw)];
  return deliverUnknown(req, here, parts, index);
}

/** Hands the recipient to the transport that `maps` or `value` name, if any (undefined: none configured). */
async function passTo(req: LocalRequest, attr: DeliverAttr, parts: RecipientParts, index: number, what: string, maps: string, value: string): Promise<LeafResult[] | undefined> {
  let transport: string | undefined;
  try {
    transport = await transportFor(req, maps, value, parts.user);
  } catch (err) {
    req.log.warn(`${what}_transport_maps: ${(err as Error).message}`);
    return [{ status: 'deferred', dsn: '4.3.0', reason: 'table lookup failure', address: attr.recipient }];
  }
  if (transport === undefined) return undefined;
  if (req.dup.check(`${what} ${parts.local.toLowerCase()}`)) return [];
  return [await deliverPass(req, attr, parts, transport, index)];
}

/** deliver_unknown(): fallback_transport(_maps), luser_relay, or the 5.1.1 bounce. */
async function deliverUnknown(req: LocalRequest, attr: DeliverAttr, parts: RecipientParts, index: number): Promise<LeafResult[]> {
  const fallback = await passTo(req, attr, parts, index, 'fallback', req.settings.fallbackTransportMaps, req.settings.fallbackTransport);
  if (fallback) return fallback;
  if (req.settings.luserRelay.trim() !== '') {
    const { text } = localExpand(
      req.settings.luserRelay,
      {
        user: parts.user,
        local: parts.local,
        domain: parts.domain,
        extension: parts.extension,
        recipient: attr.recipient,
        recipient_delimiter: parts.delimiter || req.settings.recipientDelimiter,
      },
      req.settings.forwardExpansionFilter,
    );
    const relay = text.trim();
    if (relay !== '') {
      return deliverAddress(req, { ...attr, via: 'luser_relay' }, relay, index);
    }
  }
  return [bounce('5.1.1', `unknown user: "${parts.user}"`, attr.recipient)];
}
