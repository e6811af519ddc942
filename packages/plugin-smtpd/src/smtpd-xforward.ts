/**
 * XFORWARD (Postfix's XFORWARD_README, smtpd_xforward.c): a client in
 * smtpd_authorized_xforward_hosts (a content filter giving mail back) may
 * name the original client before MAIL; the values (xtext) are logging
 * attributes: the "orig_client=" log line and the queue file's client
 * attributes, until the end of the mail transaction. The Received: header
 * keeps the connection's own name and address, as smtpd.c does.
 * "[UNAVAILABLE]" (and "[TEMPUNAVAIL]") clear an attribute.
 */
import { isIP } from 'node:net';
import type { ClientAttrs } from '@postern/core';
import type { SmtpdState } from './smtpd-state.js';

/** The EHLO keyword and the attribute names Postfix announces. */
export const XFORWARD_KEYWORD = 'XFORWARD NAME ADDR PROTO HELO SOURCE PORT IDENT';

export interface XforwardAttrs {
  name?: string;
  addr?: string;
  port?: number;
  proto?: string;
  helo?: string;
  ident?: string;
  source?: string;
}

/** RFC 3461 xtext: "+XX" stands for one octet. */
export function xtextDecode(text: string): string | undefined {
  if (/\+(?![0-9A-F]{2})/i.test(text)) return undefined;
  return Buffer.from(text.replace(/\+([0-9A-F]{2})/gi, (_m, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1').toString('utf8');
}

const HOSTNAME = /^(?=.{1,255}$)[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.?$/;

/**
 * Applies "NAME=v ADDR=v ..." to `attrs` (a copy comes back), or gives the
 * 501 reply for the first bad element; nothing changes then.
 */
export function applyXforward(current: XforwardAttrs | undefined, args: string): { attrs: XforwardAttrs } | { error: string } {
  const attrs: XforwardAttrs = { ...current };
  const items = args.split(/\s+/).filter(Boolean);
  if (items.length === 0) return { error: '501 5.5.4 Syntax: XFORWARD attribute=value...' };
  for (const item of items) {
    const eq = item.indexOf('=');
    const raw = eq > 0 ? xtextDecode(item.slice(eq + 1)) : undefined;
    if (eq <= 0 || raw === undefined) return { error: `501 5.5.4 Error: bad syntax: ${item}` };
    const key = item.slice(0, eq).toUpperCase();
    const unset = raw === '[UNAVAILABLE]' || raw === '[TEMPUNAVAIL]';
    switch (key) {
      case 'NAME':
        if (!unset && !HOSTNAME.test(raw) && raw !== 'unknown') return { error: `501 5.5.4 Bad ${key} syntax: ${raw}` };
        attrs.name = unset ? undefined : raw;
        break;
      case 'ADDR': {
        const addr = raw.replace(/^IPv6:/i, '');
        if (!unset && !isIP(addr)) return { error: `501 5.5.4 Bad ${key} syntax: ${raw}` };
        attrs.addr = unset ? undefined : addr;
        break;
      }
      case 'PORT':
        if (!unset && !/^\d{1,5}$/.test(raw)) return { error: `501 5.5.4 Bad ${key} syntax: ${raw}` };
        attrs.port = unset ? undefined : Number(raw);
        break;
      case 'PROTO':
        if (!unset && !/^[A-Za-z0-9]{1,64}$/.test(raw)) return { error: `501 5.5.4 Bad ${key} syntax: ${raw}` };
        attrs.proto = unset ? undefined : raw;
        break;
      case 'HELO':
        attrs.helo = unset ? undefined : raw.replace(/[\x00-\x1f\x7f]/g, '?');
        break;
      case 'IDENT':
        attrs.ident = unset ? undefined : raw.replace(/[\x00-\x1f\x7f]/g, '?');
        break;
      case 'SOURCE':
        if (!unset && !/^(LOCAL|REMOTE)$/i.test(raw)) return { error: `501 5.5.4 Bad ${key} syntax: ${raw}` };
        attrs.source = unset ? undefined : raw.toUpperCase();
        break;
      default:
        return { error: `501 5.5.4 Bad XFORWARD attribute name: ${item.slice(0, eq)}` };
    }
  }
  return { attrs };
}

/**
 * The original client's log attributes when XFORWARD named its name or
 * address (smtpd_xforward.c presets "unknown"); what it did not name stays
 * "unknown", the HELO and protocol what it named.
 */
export function forwardedClient(s: SmtpdState, portLogging: boolean): (ClientAttrs & { log: string }) | undefined {
  const x = s.xforward;
  if (!x || (x.name === undefined && x.addr === undefined)) return undefined;
  const name = x.name ?? 'unknown';
  const address = x.addr ?? 'unknown';
  return {
    name,
    address,
    port: x.port,
    helo: x.helo,
    protocol: x.proto,
    log: portLogging && x.port !== undefined ? `${name}[${address}]:${x.port}` : `${name}[${address}]`,
  };
}
