/**
 * deliver_alias(): aliases(5) expansion through alias_maps.
 *
 * The key is the recipient's local part folded to lowercase, first with
 * its extension, then without. An alias is expanded once per request (a
 * second visit, as in "user: user, other", falls through to .forward and
 * the mailbox). When "owner-NAME" is also an alias, the envelope sender of
 * everything NAME expands to becomes owner-NAME@$myorigin, or with
 * expand_owner_alias the owner alias's own value, and (Postfix's owner
 * attribute) local users in the list get the message as a new one through
 * cleanup; without an owner- alias the owner in force is kept (reset_owner_alias = no). Commands and files in an
 * alias run with the privileges of the alias database owner, default_privs
 * when that is root or the table has no file.
 */
import type { LookupTable } from '@postern/core';
import { unprivileged, defaultPrivs, tableOwner } from './local-passwd.js';
import type { RecipientParts } from './local-recipient.js';
import type { DeliverAttr, LeafResult, LocalRequest, Privileges } from './local-state.js';
import { deliverTokens, splitDestinations } from './local-token.js';

async function lookup(req: LocalRequest, key: string): Promise<{ value: string; table: LookupTable } | undefined> {
  for (const table of req.aliasTables) {
    const value = await table.lookup(key);
    if (value !== undefined) return { value, table };
  }
  return undefined;
}

async function aliasPrivileges(req: LocalRequest, table: LookupTable): Promise<Privileges> {
  const owner = tableOwner(table.spec);
  if (!owner || owner.uid === 0) return defaultPrivs(req.tables, req.settings.defaultPrivs);
  return unprivileged(
    req.tables,
    { uid: owner.uid, gid: owner.gid, logname: `uid ${owner.uid}` },
    req.settings.defaultPrivs,
  );
}

/** Returns the leaves of the expansion, or undefined when there is no (unvisited) alias. */
export async function deliverAlias(
  req: LocalRequest,
  attr: DeliverAttr,
  parts: RecipientParts,
  index: number,
): Promise<LeafResult[] | undefined> {
  if (req.aliasTables.length === 0) return undefined;
  const keys = [parts.local.toLowerCase()];
  if (parts.extension !== '') keys.push(parts.user);
  for (const name of keys) {
    const hit = await lookup(req, name);
    if (!hit) continue;
    if (req.dup.check(`alias ${name}`)) return undefined;
    let sender = attr.sender;
    let ownerAttr: string | undefined;
    if (attr.sender !== '') {
      const owner = name.startsWith('owner-') ? undefined : await lookup(req, `owner-${name}`);
      if (owner) {
        const expanded = splitDestinations(owner.value);
        sender = req.settings.expandOwnerAlias && expanded.length > 0 ? expanded[0]! : `owner-${name}@${req.settings.myorigin}`;
        ownerAttr = sender;
      }
    }
    const privs = await aliasPrivileges(req, hit.table);
    const tokens = splitDestinations(hit.value);
    const child: DeliverAttr = { ...attr, sender, expType: 'alias', privs, owner: ownerAttr ?? attr.owner, via: `alias ${name}` };
    req.log.debug(`${req.request.queueId}: alias ${name} -> ${tokens.join(', ')}`);
    return deliverTokens(req, child, tokens, index);
  }
  return undefined;
}
