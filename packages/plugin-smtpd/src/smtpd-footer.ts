/**
 * smtpd's reply chokepoint (smtpd_chat_reply): every reply goes out through
 * SmtpdReplyOut, which appends smtpd_reject_footer (or the
 * smtpd_reject_footer_maps result for the reply text) to 4xx/5xx replies
 * with the macros of smtpd_expand.c. A footer table lookup is asynchronous:
 * replies then queue behind it in order, and a hang-up waits for them.
 */
import { appendReplyFooter, expansionFilter, footerTemplate, localtimeMacro, type ConfigView, type LookupTable, type TableRegistry } from '@postern/core';
import type { SmtpdState } from './smtpd-state.js';

/** Address macros: $sender, $sender_name (local part), $sender_domain; the same for recipient. */
function addressMacros(prefix: string, addr: string | undefined): Record<string, string> {
  if (addr === undefined) return { [prefix]: '', [`${prefix}_name`]: '', [`${prefix}_domain`]: '' };
  if (addr === '') return { [prefix]: '<>', [`${prefix}_name`]: '<>', [`${prefix}_domain`]: '' };
  const at = addr.lastIndexOf('@');
  return { [prefix]: addr, [`${prefix}_name`]: at < 0 ? addr : addr.slice(0, at), [`${prefix}_domain`]: at < 0 ? '' : addr.slice(at + 1) };
}

export class SmtpdReplyOut {
  /** The RCPT address being processed ($recipient), cleared per command. */
  recipient: string | undefined;
  private queue: Promise<void> | undefined;
  private readonly maps: LookupTable[];
  private readonly footer: string;
  private readonly filter: (value: string) => string;

  constructor(
    private readonly config: ConfigView,
    private readonly state: SmtpdState,
    private readonly write: (text: string) => void,
    tables?: TableRegistry,
  ) {
    const maps = config.get('smtpd_reject_footer_maps').trim();
    this.maps = maps && tables ? tables.openList(maps) : [];
    // a raw parameter: its $client_address... are reply-time macros, not main.cf names
    this.footer = config.raw('smtpd_reject_footer') ?? '';
    this.filter = expansionFilter(config.raw('smtpd_expansion_filter') ?? '');
  }

  /** Sends a reply, with the footer when it is a 4xx/5xx. */
  reply(text: string): void {
    const lookup = (text[0] === '4' || text[0] === '5') && this.maps.length > 0;
    if (!lookup && !this.queue) {
      this.write(this.withFooter(text, this.footer));
      return;
    }
    const prev = this.queue ?? Promise.resolve();
    const next = prev.then(async () => {
      let template = this.footer;
      try {
        template = await footerTemplate(text, this.maps, this.footer);
      } catch {
        // a table that cannot answer: the parameter's footer (maps_find error: no footer match)
      }
      this.write(this.withFooter(text, template));
    });
    this.queue = next;
    void next.then(() => {
      if (this.queue === next) this.queue = undefined;
    });
  }

  /** Settles once every queued reply is written. */
  async flushed(): Promise<void> {
    while (this.queue) await this.queue;
  }

  /** Runs `fn` (a hang-up, a TLS upgrade) after the queued replies. */
  after(fn: () => void): void {
    if (this.queue) void this.flushed().then(fn);
    else fn();
  }

  private withFooter(text: string, template: string): string {
    if (template === '' || (text[0] !== '4' && text[0] !== '5')) return text;
    return appendReplyFooter(text, template, this.macros());
  }

  private macros(): Record<string, string> {
    const s = this.state;
    const f = this.filter;
    return {
      server_name: this.config.get('myhostname'),
      client: f(s.namaddr),
      client_address: s.address,
      client_port: String(s.port),
      client_name: f(s.name),
      reverse_client_name: f(s.reverseName),
      helo_name: f(s.helo ?? ''),
      localtime: localtimeMacro(),
      ...Object.fromEntries(Object.entries(addressMacros('sender', s.sender)).map(([k, v]) => [k, f(v)])),
      ...Object.fromEntries(Object.entries(addressMacros('recipient', this.recipient)).map(([k, v]) => [k, f(v)])),
    };
  }
}
