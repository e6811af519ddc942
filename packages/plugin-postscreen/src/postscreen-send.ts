/**
 * postscreen's replies (postscreen_send.c psc_send_reply, postscreen_expand.c):
 * every reply goes out through ReplyOut, which appends the reject footer to
 * 4xx/5xx replies: the first postscreen_reject_footer_maps table that knows
 * the reply text, else postscreen_reject_footer, with core's
 * smtp_reply_footer (\n starts a new line, \c continues the last). The
 * footer knows postscreen's macros only: $server_name (myhostname),
 * $client_address, $client_port and $localtime; their values pass through
 * postscreen_expansion_filter (other characters become '_'). A footer
 * table lookup is asynchronous: replies then queue behind it in order, and
 * what must follow them (a hang-up, STARTTLS, the hand-off) waits.
 */
import { appendReplyFooter, expansionFilter, footerTemplate, localtimeMacro, SMTPD_EXPANSION_FILTER_DEFAULT, type ConfigView, type LookupTable, type TableRegistry } from '@postern/core';

/** What the reply footer needs, read once at start-up. */
export interface PostscreenFooter {
  readonly maps: readonly LookupTable[];
  /** postscreen_reject_footer, unexpanded ("" none). */
  readonly template: string;
  /** postscreen_expansion_filter applied to a macro value. */
  readonly filter: (value: string) => string;
  readonly serverName: string;
}

/**
 * A parameter whose value is only "$name" or "${name}" takes that
 * parameter's value unexpanded (postscreen.c contains_only_parameter and
 * mail_conf_eval_once): a footer's $client_address is a reply-time macro.
 */
function evalOnce(config: ConfigView, name: string, fallback: (ref: string) => string | undefined = () => undefined): string {
  const raw = config.raw(name) ?? '';
  const ref = /^\s*\$(?:([A-Za-z0-9_]+)|\{([A-Za-z0-9_]+)\}|\(([A-Za-z0-9_]+)\))\s*$/.exec(raw);
  if (!ref) return raw;
  const target = (ref[1] ?? ref[2] ?? ref[3]) as string;
  return config.raw(target) ?? fallback(target) ?? '';
}

/** The footer settings; undefined when neither a template nor a table is configured. */
export function readFooter(config: ConfigView, tables: TableRegistry | undefined): PostscreenFooter | undefined {
  const template = evalOnce(config, 'postscreen_reject_footer');
  const mapSpec = config.get('postscreen_reject_footer_maps').trim();
  const maps = mapSpec && tables ? tables.openList(mapSpec) : [];
  if (template === '' && maps.length === 0) return undefined;
  // smtpd's parameter, which postscreen's process does not declare: Postfix's default when main.cf does not set it
  const filter = evalOnce(config, 'postscreen_expansion_filter', (ref) => (ref === 'smtpd_expansion_filter' ? SMTPD_EXPANSION_FILTER_DEFAULT : undefined));
  return { maps, template, filter: expansionFilter(filter), serverName: config.get('myhostname') };
}

const isReject = (text: string): boolean => text[0] === '4' || text[0] === '5';

/** One session's reply stream. */
export class ReplyOut {
  /** The last queued write (a footer lookup and what came after it); undefined when nothing waits. */
  private tail: Promise<void> | undefined;

  constructor(
    private readonly footer: PostscreenFooter | undefined,
    private readonly client: { readonly address: string; readonly port: string },
    private readonly write: (text: string) => void,
  ) {}

  /** Sends `text` (lines joined by CRLF, without the final CRLF), with the footer when it is a 4xx/5xx reply. */
  reply(text: string): void {
    const f = this.footer;
    if (!f || !isReject(text)) return this.queued(() => this.write(text));
    if (f.maps.length === 0 && !this.tail) return this.write(this.withFooter(text, f.template));
    this.queued(async () => {
      let template = f.template;
      try {
        template = await footerTemplate(text, f.maps, f.template);
      } catch {
        // psc_maps_find with a table error finds nothing: the parameter's footer
      }
      this.write(this.withFooter(text, template));
    });
  }

  /** Runs `fn` once every queued reply is written (at once when none waits). */
  after(fn: () => void): void {
    this.queued(fn);
  }

  private queued(fn: () => void | Promise<void>): void {
    if (!this.tail) {
      const r = fn();
      if (r) this.track(r);
      return;
    }
    this.track(this.tail.then(fn));
  }

  private track(p: Promise<void>): void {
    const mine = p.catch(() => undefined);
    this.tail = mine;
    void mine.then(() => {
      if (this.tail === mine) this.tail = undefined;
    });
  }

  private withFooter(text: string, template: string): string {
    if (template === '') return text;
    const f = (this.footer as PostscreenFooter).filter;
    return appendReplyFooter(text, template, {
      server_name: f((this.footer as PostscreenFooter).serverName),
      client_address: f(this.client.address),
      client_port: f(this.client.port),
      localtime: f(localtimeMacro()),
    });
  }
}
