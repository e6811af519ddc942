/**
 * The CleanupService of cleanup(8): one submit() per message (Postfix's
 * cleanup_api.c, cleanup_envelope.c, cleanup_extracted.c, cleanup_final.c).
 *
 * submit() opens a queue writer and reports its queue ID at once, rewrites
 * and maps the envelope sender, streams the content through CleanupMessage,
 * then rewrites, maps and expands the recipients (plus extracted and bcc
 * recipients), and commits the message durably into the incoming queue (or
 * hold) before it answers; qmgr is then told to scan incoming. A reject,
 * discard or error leaves nothing in the queue.
 */
import { BlockList, isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import type {
  CleanupRecipient,
  CleanupRequest,
  CleanupResult,
  CleanupService,
  ConfigView,
  DsnNotify,
  Envelope,
  Logger,
  LookupTable,
  QueueStore,
  QueueWriter,
  Recipient,
  RewriteContext,
  RewriteService,
  TableRegistry,
} from '@postern/core';
import { isLongQueueId, QUEUE } from '@postern/core';
import type { ActState } from './cleanup-act.js';
import { AddressMapper, MappingError } from './cleanup-addr.js';
import { CleanupMessage, type MessageChecks } from './cleanup-message.js';
import { strictMime, type StrictMime } from './cleanup-mime.js';
import { nonSmtpdMilters, nonSmtpdMiltersApply } from './cleanup-milter.js';

export interface CleanupOptions {
  readonly config: ConfigView;
  readonly tables: TableRegistry;
  readonly store: QueueStore;
  /** trivial-rewrite (REWRITE of the service container: its client, or the service itself in-process). */
  readonly rewrite: RewriteService;
  readonly log: Logger;
  /** Called after each commit into the incoming queue (cleanup tells qmgr). */
  readonly onQueued?: (queue: string, id: string) => void;
}

/** The parameters every message's CleanupMessage gets. */
interface MessageParams {
  readonly alwaysAddMissing: boolean;
  readonly headerSizeLimit: number;
  readonly bodyChecksSizeLimit: number;
  readonly messageSizeLimit: number;
  readonly dropHeaders: ReadonlySet<string>;
  readonly myhostname: string;
  readonly undisclosedHeader: string;
  readonly fromFormat: string;
  readonly strict?: StrictMime;
  readonly disableMime: boolean;
}

interface PendingRecipient {
  readonly address: string;
  readonly original: string;
  readonly orcpt?: string;
  readonly notify?: readonly DsnNotify[];
}

export class Cleanup implements CleanupService {
  readonly mapper: AddressMapper;
  private readonly checks: MessageChecks;
  /** milter_header_checks, for the headers non_smtpd_milters add or change. */
  private readonly milterChecks: LookupTable[];
  private readonly own: Set<string>;
  private readonly mynetworks: BlockList;
  private readonly rewriteClientTables: LookupTable[];
  /** local_header_rewrite_clients, lower-cased. */
  private readonly rewriteClients: string[];
  private fixed: MessageParams | undefined;

  constructor(private readonly opts: CleanupOptions) {
    const { config, tables } = opts;
    this.mapper = new AddressMapper(config, tables, opts.rewrite);
    this.checks = {
      header: tables.openList(config.get('header_checks')),
      mime: tables.openList(config.get('mime_header_checks')),
      nested: tables.openList(config.get('nested_header_checks')),
      body: tables.openList(config.get('body_checks')),
    };
    this.milterChecks = tables.openList(config.get('milter_header_checks'));
    this.own = ownAddresses(config);
    this.mynetworks = networks(config.list('mynetworks'));
    this.rewriteClients = config.list('local_header_rewrite_clients').map((i) => i.toLowerCase());
    this.rewriteClientTables = config
      .list('local_header_rewrite_clients')
      .filter((i) => /^[a-z0-9_-]+:/i.test(i) && !i.toLowerCase().startsWith('check_address_map'))
      .map((i) => tables.open(i));
  }

  async submit(input: CleanupRequest, body: AsyncIterable<Buffer>, onQueueId?: (queueId: string) => void): Promise<CleanupResult> {
    const { config, log } = this.opts;
    let request = input;
    let content = body;
    let writer: QueueWriter;
    const proposed = request.queueId && isLongQueueId(request.queueId) ? request.queueId : undefined;
    if (request.queueId && !proposed) log.warn(`${request.origin}: ignoring malformed queue ID "${request.queueId.slice(0, 40)}"`);
    try {
      writer = this.opts.store.createWriter(proposed ? { queueId: proposed } : undefined);
    } catch (err) {
      await drain(content);
      log.warn(`queue file create error: ${errText(err)}`);
      return writeError('');
    }
    const id = writer.id;
    if (id !== request.queueId) onQueueId?.(id);
    if (nonSmtpdMiltersApply(config, request)) {
      // the client sends the content once it knows the queue ID
      const staged = await nonSmtpdMilters(config, log, { ...request, queueId: id }, content, this.milterChecks).catch((err: unknown) => {
        writer.abort();
        throw err;
      });
      if (staged.refused) {
        writer.abort();
        return { ...staged.refused, queueId: id };
      }
      ({ request, content } = staged);
    }
    const flags = request.flags ?? {};
    const mapping = !flags.noAddressMappings;
    const arrivalTime = request.arrivalTime ?? Date.now();

    try {
      let sender = await this.mapper.rewrite('local', request.sender);
      if (mapping) sender = await this.mapper.mapAddress(id, sender, 'envelope_sender');

      const client = request.client;
      const state: ActState = {
        queueId: id,
        logOrigin: client?.log ?? (client?.address ? `${client.name ?? 'unknown'}[${client.address}]` : 'local'),
        sender,
        firstRecipient: request.recipients[0]?.address,
        protocol: client?.protocol,
        helo: client?.helo,
        discard: false,
        hold: !!flags.hold,
        bcc: [],
      };
      const headerContext = await this.headerContext(request);
      const fixed = (this.fixed ??= this.messageParams());
      const message = new CleanupMessage(
        {
          log,
          mapper: this.mapper,
          checks: flags.noHeaderBodyChecks ? undefined : this.checks,
          // Like header/body checks, not for bounces and forwarded mail.
          strict: flags.noHeaderBodyChecks ? undefined : fixed.strict,
          disableMime: fixed.disableMime,
          headerContext,
          mapHeaders: mapping,
          addMissing: headerContext !== undefined || fixed.alwaysAddMissing,
          headerSizeLimit: fixed.headerSizeLimit,
          bodyChecksSizeLimit: fixed.bodyChecksSizeLimit,
          messageSizeLimit: fixed.messageSizeLimit,
          dropHeaders: fixed.dropHeaders,
          myhostname: fixed.myhostname,
          undisclosedHeader: fixed.undisclosedHeader,
          fromFormat: fixed.fromFormat,
          sender,
          fullName: request.submitter?.fullName,
          arrivalTime,
          extractRecipients: !!flags.extractRecipients,
          out: (data) => writer.write(data),
        },
        state,
      );

      for await (const chunk of content) {
        await message.write(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
      }
      await message.end();

      if (message.tooBig) {
        writer.abort();
        return { status: 'rejected', queueId: id, code: 552, dsn: '5.3.4', text: 'Error: message file too big' };
      }
      if (state.reason !== undefined) {
        writer.abort();
        const [dsn, ...rest] = state.reason.split(' ');
        const temp = dsn!.startsWith('4');
        return { status: temp ? 'tempfail' : 'rejected', queueId: id, code: temp ? 451 : 550, dsn: dsn!, text: rest.join(' ') };
      }
      if (state.discard) {
        writer.abort();
        return { status: 'discarded', queueId: id, code: 250, dsn: '2.0.0', text: `Ok: queued as ${id}` };
      }
      if (message.hops >= config.int('hopcount_limit')) {
        writer.abort();
        return { status: 'rejected', queueId: id, code: 554, dsn: '5.4.0', text: 'Error: too many hops' };
      }

      // Envelope recipients: given, then extracted (sendmail -t), then automatic bcc.
      const given: PendingRecipient[] = request.recipients.map((r: CleanupRecipient) => ({
        address: r.address,
        original: r.original ?? r.address,
        orcpt: r.orcpt,
        notify: r.notify,
      }));
      if (flags.extractRecipients) {
        const list = message.resent ? message.extractedResent : message.extracted;
        for (const a of list) given.push({ address: a, original: a });
      }
      const out = new RecipientList(config.int('duplicate_filter_limit'), config.bool('enable_original_recipient'));
      const bccOk = mapping && !flags.noBccMaps;
      const bcc: string[] = [];
      for (const r of given) {
        const rcpt = await this.recipient(id, r.address, mapping);
        if (bccOk) {
          const b = await this.mapper.bccFor(this.mapper.recipientBcc, rcpt);
          if (b) bcc.push(b);
        }
        for (const e of mapping ? await this.mapper.expandVirtual(id, rcpt) : [rcpt]) out.add({ ...r, address: e });
      }
      if (bccOk) {
        const always = config.get('always_bcc');
        if (always) bcc.unshift(always);
        const sb = await this.mapper.bccFor(this.mapper.senderBcc, sender);
        if (sb) bcc.push(sb);
      }
      bcc.push(...state.bcc);
      for (const b of bcc) {
        const rcpt = await this.recipient(id, b, mapping);
        for (const e of mapping ? await this.mapper.expandVirtual(id, rcpt) : [rcpt]) out.add({ address: e, original: b });
      }
      if (out.list.length === 0) {
        writer.abort();
        return { status: 'rejected', queueId: id, code: 550, dsn: '5.1.0', text: 'No recipients specified' };
      }

      const envelope: Envelope = {
        sender,
        recipients: out.list,
        arrivalTime,
        dsnRet: request.dsnRet,
        dsnEnvid: request.dsnEnvid,
        client: request.client,
        sasl: request.sasl,
        bodyType: request.bodyType,
        smtputf8: request.smtputf8,
        // a client's own content_filter (smtpd -o content_filter= sends ""), else cleanup's
        filter: state.filter ?? ((request.filter ?? config.get('content_filter')) || undefined),
        redirect: state.redirect ?? request.redirect,
        origin: request.origin,
        hops: message.hops,
        messageId: message.messageId,
        traceFlags: request.traceFlags,
      };
      const queue = state.hold ? QUEUE.HOLD : QUEUE.INCOMING;
      try {
        await writer.commit(envelope, queue);
      } catch (err) {
        log.warn(`${id}: queue file write error: ${errText(err)}`);
        return writeError(id);
      }
      this.opts.onQueued?.(queue, id);
      return { status: 'queued', queueId: id, code: 250, dsn: '2.0.0', text: `Ok: queued as ${id}`, held: state.hold || undefined };
    } catch (err) {
      writer.abort();
      await drain(content).catch(() => undefined);
      if (err instanceof MappingError) {
        log.warn(err.warning);
        return { status: 'tempfail', queueId: id, code: 451, dsn: err.dsn, text: err.reason };
      }
      log.warn(`${id}: ${errText(err)}`);
      return writeError(id);
    }
  }

  /**
   * The per-message parameters of CleanupMessage. A config view never
   * changes, so they are read once, on the first message (not in the
   * constructor: a bad value fails each message, as it always did, instead
   * of the service start).
   */
  private messageParams(): MessageParams {
    const { config } = this.opts;
    return {
      alwaysAddMissing: config.bool('always_add_missing_headers'),
      headerSizeLimit: config.size('header_size_limit'),
      bodyChecksSizeLimit: config.size('body_checks_size_limit'),
      messageSizeLimit: config.size('message_size_limit'),
      dropHeaders: new Set(config.list('message_drop_headers').map((h) => h.toLowerCase())),
      myhostname: config.get('myhostname'),
      undisclosedHeader: config.get('undisclosed_recipients_header'),
      fromFormat: config.get('header_from_format'),
      strict: strictMime(config),
      disableMime: config.bool('disable_mime_input_processing'),
    };
  }

  /** An envelope recipient: rewritten (local context), then canonical-mapped. */
  private async recipient(id: string, address: string, mapping: boolean): Promise<string> {
    const empty = address === '' ? this.opts.config.get('empty_address_recipient') || 'MAILER-DAEMON' : address;
    const rcpt = await this.mapper.rewrite('local', empty);
    return mapping ? this.mapper.mapAddress(id, rcpt, 'envelope_recipient') : rcpt;
  }

  /**
   * The header rewriting context: local for local submissions and clients
   * that match local_header_rewrite_clients; otherwise remote when
   * remote_header_rewrite_domain is set; otherwise none.
   */
  async headerContext(request: CleanupRequest): Promise<RewriteContext | undefined> {
    const addr = request.client?.address;
    if (!addr || !isIP(addr)) return 'local';
    const ip = addr.toLowerCase().startsWith('::ffff:') && isIP(addr.slice(7)) === 4 ? addr.slice(7) : addr;
    for (const rule of this.rewriteClients) {
      if (rule === 'permit_inet_interfaces' && this.own.has(ip)) return 'local';
      if (rule === 'permit_mynetworks' && this.mynetworks.check(ip, isIP(ip) === 6 ? 'ipv6' : 'ipv4')) return 'local';
      if (rule === 'permit_sasl_authenticated' && request.sasl?.username) return 'local';
    }
    for (const t of this.rewriteClientTables) {
      const v = await t.lookup(ip);
      if (v !== undefined && !/^(reject|dunno)/i.test(v.trim())) return 'local';
    }
    return this.opts.config.get('remote_header_rewrite_domain') ? 'remote' : undefined;
  }
}

/** Recipients with duplicate removal (Postfix's been_here on orcpt, notify, original and address). */
class RecipientList {
  readonly list: Recipient[] = [];
  private readonly seen = new Set<string>();
  constructor(
    private readonly limit: number,
    private readonly keepOriginal: boolean,
  ) {}

  add(r: PendingRecipient): void {
    const key = `${r.orcpt ?? ''}\n${(r.notify ?? []).join(',')}\n${r.original}\n${r.address.toLowerCase()}`;
    if (this.seen.has(key)) return;
    if (this.limit <= 0 || this.seen.size < this.limit) this.seen.add(key);
    this.list.push({
      address: r.address,
      original: this.keepOriginal ? r.original : undefined,
      orcpt: r.orcpt,
      notify: r.notify,
    });
  }
}

function writeError(id: string): CleanupResult {
  return { status: 'tempfail', queueId: id, code: 451, dsn: '4.3.0', text: 'Error: queue file write error' };
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

async function drain(content: AsyncIterable<Buffer>): Promise<void> {
  for await (const _ of content) {
    // discard
  }
}

/** This machine's addresses for permit_inet_interfaces (inet_interfaces and proxy_interfaces). */
function ownAddresses(config: ConfigView): Set<string> {
  const own = new Set<string>();
  for (const v of config.list('inet_interfaces')) {
    const l = v.toLowerCase();
    if (l === 'all') for (const list of Object.values(networkInterfaces())) for (const i of list ?? []) own.add(i.address.toLowerCase());
    else if (l === 'loopback-only' || l === 'localhost') ['127.0.0.1', '::1'].forEach((a) => own.add(a));
    else if (isIP(l.replace(/^\[|\]$/g, ''))) own.add(l.replace(/^\[|\]$/g, ''));
  }
  for (const v of config.list('proxy_interfaces')) if (isIP(v)) own.add(v.toLowerCase());
  return own;
}

/** mynetworks as a BlockList (CIDR and bare addresses; [ipv6]/len forms too). */
function networks(items: readonly string[]): BlockList {
  const list = new BlockList();
  for (const item of items) {
    const m = /^\[?([^\]/]+)\]?(?:\/(\d+))?$/.exec(item);
    if (!m) continue;
    const family = isIP(m[1]!);
    if (!family) continue;
    const type = family === 6 ? 'ipv6' : 'ipv4';
    if (m[2] === undefined) list.addAddress(m[1]!, type);
    else list.addSubnet(m[1]!, Number(m[2]), type);
  }
  return list;
}
