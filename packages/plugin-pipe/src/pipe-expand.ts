/**
 * pipe(8) command-line macros: ${name}, $name, $(name), ${name?text},
 * ${name:text} and $$ in each argv element. An element that refers to a
 * per-recipient macro (recipient, original_recipient, user, extension,
 * mailbox) expands into one argument per recipient; other elements expand
 * once. The h, q and u flags fold and quote as pipe(8) describes. The
 * result is an argument vector: nothing is ever parsed by a shell.
 */
import { quoteLocalPart, splitAddress, splitLocalPart } from '@postern/address';
import { type DeliveryRecipient, type DeliveryRequest } from '@postern/core';
import { PipeConfigError, type PipeAttrs } from './pipe-args.js';

const PER_RECIPIENT = new Set(['recipient', 'original_recipient', 'user', 'extension', 'mailbox']);
const GLOBAL = new Set([
  'sender',
  'nexthop',
  'domain',
  'size',
  'queue_id',
  'client_address',
  'client_hostname',
  'client_helo',
  'client_protocol',
  'client_port',
  'sasl_method',
  'sasl_sender',
  'sasl_username',
]);

/** Names referenced by `arg` (throws on unknown names). */
export function macroNames(arg: string): Set<string> {
  const names = new Set<string>();
  const re = /\$(?:\{([A-Za-z0-9_]+)(?:[?:][^}]*)?\}|\(([A-Za-z0-9_]+)\)|([A-Za-z0-9_]+)|\$)/g;
  for (const m of arg.matchAll(re)) {
    const name = m[1] ?? m[2] ?? m[3];
    if (name === undefined) continue;
    if (!PER_RECIPIENT.has(name) && !GLOBAL.has(name)) throw new PipeConfigError(`unknown macro name: ${name}`);
    names.add(name);
  }
  return names;
}

function substitute(arg: string, values: Readonly<Record<string, string>>): string {
  const re = /\$(?:\{([A-Za-z0-9_]+)(?:([?:])([^}]*))?\}|\(([A-Za-z0-9_]+)\)|([A-Za-z0-9_]+)|(\$))/g;
  return arg.replace(re, (_all, n1?: string, op?: string, text?: string, n2?: string, n3?: string, dollar?: string) => {
    if (dollar) return '$';
    const name = (n1 ?? n2 ?? n3)!;
    const v = values[name] ?? '';
    if (op === '?') return v !== '' ? (text ?? '') : '';
    if (op === ':') return v === '' ? (text ?? '') : '';
    return v;
  });
}

function foldAddress(address: string, attrs: PipeAttrs): string {
  const at = address.lastIndexOf('@');
  let local = at < 0 ? address : address.slice(0, at);
  let domain = at < 0 ? undefined : address.slice(at + 1);
  if (attrs.flags.foldUser) local = local.toLowerCase();
  if (attrs.flags.foldHost && domain !== undefined) domain = domain.toLowerCase();
  const joined = domain === undefined ? local : `${local}@${domain}`;
  return attrs.flags.quote ? quoteLocalPart(joined) : joined;
}

export function recipientValues(rcpt: DeliveryRecipient, attrs: PipeAttrs, delimiter: string): Record<string, string> {
  const { local, domain } = splitAddress(rcpt.address);
  const split = splitLocalPart(local, delimiter);
  const fold = (s: string) => (attrs.flags.foldUser ? s.toLowerCase() : s);
  return {
    recipient: foldAddress(rcpt.address, attrs),
    original_recipient: foldAddress(rcpt.original ?? rcpt.address, attrs),
    user: fold(split ? split.base : local),
    extension: fold(split ? split.extension.slice(1) : ''),
    mailbox: fold(local),
    domain: attrs.flags.foldHost ? (domain ?? '').toLowerCase() : (domain ?? ''),
  };
}

export function globalValues(request: DeliveryRequest, attrs: PipeAttrs): Record<string, string> {
  const sender = request.sender === '' ? attrs.nullSender : attrs.flags.quote ? quoteLocalPart(request.sender) : request.sender;
  const c = request.client;
  const s = request.sasl;
  return {
    sender,
    nexthop: attrs.flags.foldHost ? request.nexthop.toLowerCase() : request.nexthop,
    size: String(request.size),
    queue_id: request.queueId,
    client_address: c?.address ?? '',
    client_hostname: c?.name ?? '',
    client_helo: c?.helo ?? '',
    client_protocol: c?.protocol ?? '',
    client_port: c?.port !== undefined ? String(c.port) : '',
    sasl_method: s?.method ?? '',
    sasl_sender: s?.sender ?? '',
    sasl_username: s?.username ?? '',
  };
}

/** The argument vector for `recipients`. */
export function expandArgv(
  attrs: PipeAttrs,
  request: DeliveryRequest,
  recipients: readonly DeliveryRecipient[],
  delimiter: string,
): string[] {
  const global = globalValues(request, attrs);
  const per = recipients.map((r) => recipientValues(r, attrs, delimiter));
  const out: string[] = [];
  for (const arg of attrs.argv) {
    const names = macroNames(arg);
    const perRecipient = [...names].some((n) => PER_RECIPIENT.has(n));
    // $domain is the recipient's domain: per recipient when several differ, as Postfix.
    if (perRecipient) {
      for (const v of per) out.push(substitute(arg, { ...global, ...v }));
    } else {
      out.push(substitute(arg, { ...global, domain: per[0]?.domain ?? '' }));
    }
  }
  return out;
}
