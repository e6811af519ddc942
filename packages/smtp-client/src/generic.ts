/**
 * smtp_generic_maps (Postfix's smtp_map11.c and generic(5)): outgoing
 * addresses are rewritten, in the envelope and in the address headers, with
 * mail_addr_find's order: the full address, then (for local domains only) the
 * local part, then "@domain". A result "@otherdomain" keeps the local part.
 */
import type { LookupTable } from '@postern/core';
import { mailAddrMap, type AddrFindOptions } from '@postern/address';

/** Header fields whose addresses are rewritten (Postfix's header_opts with HDR_OPT_ADDRESS). */
const ADDRESS_HEADERS = new Set([
  'from', 'sender', 'reply-to', 'to', 'cc', 'bcc', 'errors-to', 'return-receipt-to',
  'resent-from', 'resent-sender', 'resent-reply-to', 'resent-to', 'resent-cc', 'resent-bcc',
  'disposition-notification-to', 'delivered-to', 'return-path',
]);

export interface GenericMapper {
  /** The address as it goes out ("" stays ""). */
  address(addr: string): Promise<string>;
  /** The header section with addresses in address headers rewritten; the body untouched. */
  content(message: Buffer): Promise<Buffer>;
}

export function genericMapper(tables: readonly LookupTable[], options: AddrFindOptions): GenericMapper | undefined {
  if (!tables.length) return undefined;
  const address = async (addr: string) => {
    if (!addr) return addr;
    const out = await mailAddrMap(tables, addr, options);
    return out?.[0] ?? addr;
  };
  return {
    address,
    async content(message) {
      const end = headerEnd(message);
      const head = message.subarray(0, end).toString('latin1');
      const lines = head.split('\n');
      const out: string[] = [];
      let changed = false;
      for (let i = 0; i < lines.length; i++) {
        let field = lines[i]!;
        let j = i + 1;
        while (j < lines.length && /^[ \t]/.test(lines[j]!)) field += `\n${lines[j++]!}`;
        i = j - 1;
        const colon = field.indexOf(':');
        if (colon > 0 && ADDRESS_HEADERS.has(field.slice(0, colon).trim().toLowerCase())) {
          const name = field.slice(0, colon + 1);
          const value = await replaceAsync(field.slice(colon + 1), /(?<![\w.!#$%&'*+/=?^`{|}~-])([\w.!#$%&'*+/=?^`{|}~-]+@[\w.-]+)(?![\w.-])/g, address);
          if (name + value !== field) changed = true;
          out.push(name + value);
        } else out.push(field);
      }
      if (!changed) return message;
      return Buffer.concat([Buffer.from(out.join('\n'), 'latin1'), message.subarray(end)]);
    },
  };
}

/** Offset of the blank line that ends the header section (or the whole length). */
export function headerEnd(message: Buffer): number {
  if (message[0] === 0x0a) return 0;
  const i = message.indexOf('\n\n');
  return i < 0 ? message.length : i + 1;
}

async function replaceAsync(text: string, re: RegExp, fn: (m: string) => Promise<string>): Promise<string> {
  const parts: (string | Promise<string>)[] = [];
  let last = 0;
  for (const m of text.matchAll(re)) {
    parts.push(text.slice(last, m.index), fn(m[1]!));
    last = m.index! + m[0].length;
  }
  parts.push(text.slice(last));
  return (await Promise.all(parts)).join('');
}
