/**
 * The Received: header smtpd prepends (smtpd.c data_cmd), and mail_date()'s
 * RFC 5322 date: "Tue, 21 Nov 2023 06:31:00 +0100 (CET)".
 */
import type { SmtpdState } from './smtpd-state.js';


import { mailDate } from '@postern/address';

export { mailDate };

/** quote_822_local: quote a local part that is not a dot-atom. */
export function quote822Local(addr: string): string {
  const at = addr.lastIndexOf('@');
  const local = at < 0 ? addr : addr.slice(0, at);
  if (/^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/.test(local) || local === '') return addr;
  const q = `"${local.replace(/(["\\])/g, '\\$1')}"`;
  return at < 0 ? q : q + addr.slice(at);
}

export interface ReceivedOptions {
  readonly myhostname: string;
  readonly mailName: string;
  readonly portLogging: boolean;
  readonly tlsHeader: boolean;
  readonly saslHeader: boolean;
  readonly queueId: string;
  readonly date: Date;
}

/** The header's lines, without line ends; joined with "\n" they form one folded header. */
export function receivedHeader(state: SmtpdState, o: ReceivedOptions): string[] {
  const lines: string[] = [];
  const from = state.helo ?? state.name;
  lines.push(
    o.portLogging
      ? `Received: from ${from} (${state.name} [${state.rfcAddr}]:${state.port})`
      : `Received: from ${from} (${state.name} [${state.rfcAddr}])`,
  );
  if (state.tls && o.tlsHeader) {
    lines.push(`\t(using ${state.tls.protocol} with cipher ${state.tls.cipher} (${state.tls.bits}/${state.tls.bits} bits))`);
    lines.push('\t(No client certificate requested)');
  }
  if (state.saslUsername && o.saslHeader) lines.push(`\t(Authenticated sender: ${state.saslUsername})`);
  const proto = receivedProtocol(state);
  if (state.recipients.length === 1) {
    lines.push(`\tby ${o.myhostname} (${o.mailName}) with ${proto} id ${o.queueId}`);
    lines.push(`\tfor <${quote822Local(state.recipients[0]!.address)}>; ${mailDate(o.date)}`);
  } else {
    lines.push(`\tby ${o.myhostname} (${o.mailName}) with ${proto} id ${o.queueId};`);
    lines.push(`\t${mailDate(o.date)}`);
  }
  return lines;
}

/** SMTP, ESMTP, ESMTPS, ESMTPA, ESMTPSA (RFC 3848). */
export function receivedProtocol(state: SmtpdState): string {
  let p: string = state.protocol;
  if (state.encrypted) p += 'S';
  if (state.saslUsername) p += 'A';
  return p;
}
