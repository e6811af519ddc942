/**
 * One milter for one SMTP session (Postfix's milter8.c): the connection,
 * option negotiation, one event at a time with its reply, and the
 * modification requests of the end of message.
 *
 * An event's answer is a Postfix-style reply string, or undefined to go on:
 *   "550 5.7.1 Command rejected"   SMFIR_REJECT
 *   "451 4.7.1 Service unavailable - try again later"   SMFIR_TEMPFAIL
 *   "5xx/4xx ..."                  SMFIR_REPLYCODE, as the milter wrote it
 *   "D"                            SMFIR_DISCARD
 *   "H<reason>"                    SMFIR_QUARANTINE (hold)
 *   "S"                            SMFIR_SHUTDOWN (421, disconnect)
 * A milter that cannot be reached, times out or breaks the protocol answers
 * its default action (milter_default_action) from then on: accept (nothing),
 * reject, tempfail, quarantine or shutdown.
 */
import { connect, type Socket } from 'node:net';
import { isAbsolute, join } from 'node:path';
import { CHUNK_SIZE, MTA_ACTIONS, MTA_PROTOCOL, SMFIC, SMFIF, SMFIM, SMFIP, SMFIR } from './milter-protocol.js';

export type MilterDefaultAction = 'accept' | 'reject' | 'tempfail' | 'quarantine' | 'shutdown';

/** One entry of smtpd_milters / non_smtpd_milters, with its time limits (ms). */
export interface MilterSpec {
  /** As written: inet:host:port, unix:pathname (relative to queue_directory), or a pathname. */
  readonly endpoint: string;
  readonly connectTimeout: number;
  readonly commandTimeout: number;
  readonly contentTimeout: number;
  readonly defaultAction: MilterDefaultAction;
  /** milter_protocol: 2 to 6. */
  readonly protocol: number;
}

/** A modification a milter asked for at the end of the message. */
export type MilterEdit =
  | { readonly op: 'addHeader'; readonly name: string; readonly value: string }
  | { readonly op: 'insertHeader'; readonly index: number; readonly name: string; readonly value: string }
  /** `rename`: the header's new name (a milter_header_checks REPLACE); absent, the name stays. */
  | { readonly op: 'changeHeader'; readonly index: number; readonly name: string; readonly value: string; readonly rename?: string }
  | { readonly op: 'replaceBody'; readonly body: Buffer }
  | { readonly op: 'addRcpt'; readonly address: string; readonly args?: string }
  | { readonly op: 'delRcpt'; readonly address: string }
  | { readonly op: 'changeFrom'; readonly address: string; readonly args?: string }
  | { readonly op: 'quarantine'; readonly reason: string };

/** Where each event's macros come from: names to values (undefined: not sent). */
export type MacroSource = (name: string) => string | undefined;

/** Postfix's per-stage macro lists (milter_*_macros), keyed by SMFIM stage. */
export type MacroLists = Readonly<Partial<Record<number, readonly string[]>>>;

const REJECT = '550 5.7.1 Command rejected';
const TEMPFAIL = '451 4.7.1 Service unavailable - try again later';

/** The reply of a milter that failed (milter8_comm_error). */
function defaultReply(action: MilterDefaultAction): string | undefined {
  switch (action) {
    case 'accept':
      return undefined;
    case 'reject':
      return '550 5.5.0 Service unavailable';
    case 'shutdown':
      return '421 4.7.1 Service unavailable - try again later';
    case 'quarantine':
      return 'Hdefault_action';
    default:
      return TEMPFAIL;
  }
}

class MilterError extends Error {}

function cstr(s: string): Buffer {
  return Buffer.from(`${s}\0`, 'utf8');
}

/** The NUL-terminated strings of a packet's data. */
function strings(data: Buffer): string[] {
  const out = data.toString('utf8').split('\0');
  if (out.length > 0 && out[out.length - 1] === '') out.pop();
  return out;
}

export function milterAddress(endpoint: string, queueDirectory: string): { host: string; port: number } | { path: string } {
  if (endpoint.startsWith('inet:')) {
    const rest = endpoint.slice(5);
    const colon = rest.lastIndexOf(':');
    const port = Number(rest.slice(colon + 1));
    if (colon < 0 || !Number.isInteger(port) || port <= 0 || port > 65535) throw new MilterError(`bad milter address "${endpoint}"`);
    return { host: rest.slice(0, colon).replace(/^\[(.*)\]$/, '$1') || 'localhost', port };
  }
  const path = endpoint.startsWith('unix:') ? endpoint.slice(5) : endpoint;
  if (!path || /^[a-z]+:/.test(path) && !path.startsWith('/')) throw new MilterError(`bad milter address "${endpoint}"`);
  return { path: isAbsolute(path) ? path : join(queueDirectory, path) };
}

type State = 'ready' | 'error' | 'accept-conn' | 'accept-msg' | 'reject-conn';

export class Milter {
  private socket?: Socket;
  private buf: Buffer = Buffer.alloc(0);
  private waiter?: { resolve: (p: { cmd: string; data: Buffer }) => void; reject: (e: Error) => void };
  private state: State = 'ready';
  private errorReply: string | undefined;
  /** A refused connect event's reply: it persists for every later event (milter8's REJECT_CON). */
  private connReply: string | undefined;
  /** What the milter negotiated. */
  actions = 0;
  steps = 0;
  private version = 0;
  private symlists: Partial<Record<number, string[]>> = {};

  constructor(
    readonly spec: MilterSpec,
    private readonly macros: MacroSource,
    private readonly lists: MacroLists,
    private readonly warn: (text: string) => void,
  ) {}

  get name(): string {
    return this.spec.endpoint;
  }

  /** Connects and negotiates; on failure the milter answers its default action from now on. */
  async open(queueDirectory: string): Promise<void> {
    try {
      const address = milterAddress(this.spec.endpoint, queueDirectory);
      this.socket = await new Promise<Socket>((resolve, reject) => {
        const s = 'path' in address ? connect(address.path) : connect(address.port, address.host);
        const timer = setTimeout(() => {
          s.destroy();
          reject(new MilterError('timeout'));
        }, this.spec.connectTimeout);
        s.once('connect', () => {
          clearTimeout(timer);
          resolve(s);
        });
        s.once('error', (e) => {
          clearTimeout(timer);
          reject(e);
        });
      });
      this.socket.on('data', (d: Buffer) => {
        this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
        this.deliver();
      });
      this.socket.on('error', (e) => this.broken(e));
      this.socket.on('close', () => this.broken(new MilterError('connection closed')));
      await this.negotiate();
    } catch (err) {
      this.fail(`connect to ${this.spec.endpoint}: ${(err as Error).message}`);
    }
  }

  private async negotiate(): Promise<void> {
    const version = this.spec.protocol;
    const mask = version >= 6 ? MTA_PROTOCOL : version >= 4 ? 0x3ff : 0x7f;
    const body = Buffer.alloc(12);
    body.writeUInt32BE(version, 0);
    body.writeUInt32BE(MTA_ACTIONS, 4);
    body.writeUInt32BE(mask, 8);
    this.write(SMFIC.OPTNEG, body);
    const reply = await this.read(this.spec.commandTimeout);
    if (reply.cmd !== SMFIC.OPTNEG || reply.data.length < 12) throw new MilterError(`unexpected reply to option negotiation: "${reply.cmd}"`);
    this.version = reply.data.readUInt32BE(0);
    this.actions = reply.data.readUInt32BE(4);
    this.steps = reply.data.readUInt32BE(8);
    if (this.version < 2 || this.version > version) throw new MilterError(`protocol version mismatch: milter ${this.version}, MTA ${version}`);
    if ((this.actions & ~MTA_ACTIONS) !== 0) throw new MilterError(`requested unsupported actions 0x${this.actions.toString(16)}`);
    this.steps &= mask;
    // SMFIR_SETSYMLIST data: (stage, "macro names") pairs
    let off = 12;
    while (off + 4 < reply.data.length && this.actions & SMFIF.SETSYMLIST) {
      const stage = reply.data.readUInt32BE(off);
      const end = reply.data.indexOf(0, off + 4);
      const names = reply.data.subarray(off + 4, end < 0 ? undefined : end).toString('utf8');
      this.symlists[stage] = names.split(/[\s,]+/).filter(Boolean);
      off = end < 0 ? reply.data.length : end + 1;
    }
  }

  private write(cmd: string, data: Buffer = Buffer.alloc(0)): void {
    const head = Buffer.alloc(5);
    head.writeUInt32BE(data.length + 1, 0);
    head.write(cmd, 4, 'latin1');
    this.socket!.write(data.length ? Buffer.concat([head, data]) : head);
  }

  private deliver(): void {
    if (!this.waiter || this.buf.length < 4) return;
    const len = this.buf.readUInt32BE(0);
    if (len < 1 || len > 1 << 24) return this.broken(new MilterError(`bad packet length ${len}`));
    if (this.buf.length < 4 + len) return;
    const cmd = String.fromCharCode(this.buf[4]!);
    const data = Buffer.from(this.buf.subarray(5, 4 + len));
    this.buf = this.buf.subarray(4 + len);
    const w = this.waiter;
    this.waiter = undefined;
    w.resolve({ cmd, data });
  }

  private broken(e: Error): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.reject(e);
  }

  private read(timeoutMs: number): Promise<{ cmd: string; data: Buffer }> {
    if (!this.socket || this.socket.destroyed) return Promise.reject(new MilterError('connection closed'));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        reject(new MilterError('timeout'));
      }, timeoutMs);
      this.waiter = {
        resolve: (p) => (clearTimeout(timer), resolve(p)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      };
      this.deliver();
    });
  }

  /** A communication error: close, log, and answer the default action from now on. */
  private fail(why: string): string | undefined {
    this.warn(`milter ${this.spec.endpoint}: ${why}`);
    this.socket?.destroy();
    this.socket = undefined;
    this.state = 'error';
    this.errorReply = defaultReply(this.spec.defaultAction);
    return this.errorReply;
  }

  /** Sends the macros of a stage (the milter's own list if it sent one, else the configured one). */
  private sendMacros(cmd: string, stage: number): void {
    const names = this.symlists[stage] ?? this.lists[stage] ?? [];
    const parts: Buffer[] = [Buffer.from(cmd, 'latin1')];
    for (const name of names) {
      const value = this.macros(name);
      if (value === undefined) continue;
      parts.push(cstr(name), cstr(value));
    }
    if (parts.length > 1) this.write(SMFIC.MACRO, Buffer.concat(parts));
  }

  /** True when this milter takes no more events of this message (or session). */
  private skipped(): boolean {
    return this.state !== 'ready';
  }

  /**
   * One event: macros, the command, and (unless negotiated away) its reply.
   * `skipFlag`: SMFIP_NO*; `noReplyFlag`: SMFIP_NR_*.
   */
  private async event(cmd: string, data: Buffer, skipFlag: number, noReplyFlag: number, stage: number | undefined, timeout: number, edits?: MilterEdit[]): Promise<string | undefined | 'skip'> {
    if (this.state === 'error') return this.errorReply;
    if (this.state === 'reject-conn') return this.connReply;
    if (this.skipped()) return undefined;
    if (skipFlag && this.steps & skipFlag) return undefined;
    try {
      if (stage !== undefined) this.sendMacros(cmd, stage);
      this.write(cmd, data);
      if (noReplyFlag && this.steps & noReplyFlag && this.version >= 6) return undefined;
      for (;;) {
        const r = await this.read(timeout);
        switch (r.cmd) {
          case SMFIR.PROGRESS:
            continue;
          case SMFIR.CONTINUE:
            return undefined;
          case SMFIR.ACCEPT:
            this.state = cmd === SMFIC.CONNECT || cmd === SMFIC.HELO ? 'accept-conn' : 'accept-msg';
            return undefined;
          case SMFIR.REJECT:
            return this.refused(cmd, REJECT);
          case SMFIR.TEMPFAIL:
            return this.refused(cmd, TEMPFAIL);
          case SMFIR.REPLYCODE: {
            const text = strings(r.data)[0] ?? '';
            if (!/^[45]\d\d [45]\.\d{1,3}\.\d{1,3}( |$)|^[45]\d\d( |$)/.test(text.split(/\r?\n/)[0]!)) return this.fail(`malformed reply: ${text}`);
            return this.refused(cmd, text.replace(/\r?\n/g, ' '));
          }
          case SMFIR.DISCARD:
            this.state = 'accept-msg';
            return 'D';
          case SMFIR.SHUTDOWN:
          case SMFIR.CONN_FAIL:
            return this.refused(SMFIC.CONNECT, 'S');
          case SMFIR.SKIP:
            if (cmd !== SMFIC.BODY) return this.fail('unexpected SMFIR_SKIP');
            return 'skip';
          case SMFIR.QUARANTINE:
            if (!edits) return this.fail('unexpected quarantine request');
            edits.push({ op: 'quarantine', reason: strings(r.data)[0] ?? '' });
            continue;
          default:
            if (!edits) return this.fail(`unexpected reply "${r.cmd}" to ${cmd}`);
            this.edit(r.cmd, r.data, edits);
            continue;
        }
      }
    } catch (err) {
      return this.fail(`${(err as Error).message} while sending ${cmd}`);
    }
  }

  /** A refusal; at connect it stands for the whole session. */
  private refused(cmd: string, reply: string): string {
    if (cmd === SMFIC.CONNECT) {
      this.state = 'reject-conn';
      this.connReply = reply;
    }
    return reply;
  }

  /** A modification request at the end of the message (allowed only if its action was negotiated). */
  private edit(cmd: string, data: Buffer, edits: MilterEdit[]): void {
    const need: Record<string, number> = {
      [SMFIR.ADDHEADER]: SMFIF.ADDHDRS,
      [SMFIR.INSHEADER]: SMFIF.ADDHDRS,
      [SMFIR.CHGHEADER]: SMFIF.CHGHDRS,
      [SMFIR.REPLBODY]: SMFIF.CHGBODY,
      [SMFIR.ADDRCPT]: SMFIF.ADDRCPT,
      [SMFIR.ADDRCPT_PAR]: SMFIF.ADDRCPT_PAR,
      [SMFIR.DELRCPT]: SMFIF.DELRCPT,
      [SMFIR.CHGFROM]: SMFIF.CHGFROM,
    };
    const flag = need[cmd];
    if (flag === undefined) throw new MilterError(`unknown reply "${cmd}"`);
    if (!(this.actions & flag)) {
      this.warn(`milter ${this.spec.endpoint}: modification request "${cmd}" was not negotiated: ignored`);
      return;
    }
    const strip = (a: string) => a.replace(/^<(.*)>$/, '$1');
    // header values as they stand in the message: one space after the colon unless the milter sends its own
    const headerValue = (v: string) => (this.steps & SMFIP.HDR_LEADSPC ? '' : ' ') + v.replace(/\r\n/g, '\n');
    switch (cmd) {
      case SMFIR.ADDHEADER: {
        const [name = '', value = ''] = strings(data);
        edits.push({ op: 'addHeader', name, value: headerValue(value) });
        return;
      }
      case SMFIR.INSHEADER:
      case SMFIR.CHGHEADER: {
        const index = data.readUInt32BE(0);
        const [name = '', value = ''] = strings(data.subarray(4));
        // an empty value deletes the header (SMFIR_CHGHEADER)
        edits.push({ op: cmd === SMFIR.INSHEADER ? 'insertHeader' : 'changeHeader', index, name, value: value === '' ? '' : headerValue(value) });
        return;
      }
      case SMFIR.REPLBODY: {
        const last = edits[edits.length - 1];
        const chunk = Buffer.from(data.toString('latin1').replace(/\r\n/g, '\n'), 'latin1');
        if (last?.op === 'replaceBody') edits[edits.length - 1] = { op: 'replaceBody', body: Buffer.concat([last.body, chunk]) };
        else edits.push({ op: 'replaceBody', body: chunk });
        return;
      }
      case SMFIR.ADDRCPT:
      case SMFIR.ADDRCPT_PAR: {
        const [address = '', args] = strings(data);
        edits.push({ op: 'addRcpt', address: strip(address), ...(args && { args }) });
        return;
      }
      case SMFIR.DELRCPT:
        edits.push({ op: 'delRcpt', address: strip(strings(data)[0] ?? '') });
        return;
      case SMFIR.CHGFROM: {
        const [address = '', args] = strings(data);
        edits.push({ op: 'changeFrom', address: strip(address), ...(args && { args }) });
        return;
      }
    }
  }

  // ---- the events --------------------------------------------------------------

  async connectEvent(name: string, address: string, port: number, family: 'inet' | 'inet6' | 'unix' | 'unknown'): Promise<string | undefined> {
    const smName = name !== 'unknown' || address === 'unknown' ? name : `[${address}]`;
    let data: Buffer;
    if (family === 'unknown') data = Buffer.concat([cstr(smName), Buffer.from('U')]);
    else {
      const p = Buffer.alloc(2);
      p.writeUInt16BE(port & 0xffff, 0);
      data = Buffer.concat([cstr(smName), Buffer.from(family === 'inet' ? '4' : family === 'inet6' ? '6' : 'L'), p, cstr(address)]);
    }
    return this.result(await this.event(SMFIC.CONNECT, data, SMFIP.NOCONNECT, SMFIP.NR_CONN, SMFIM.CONNECT, this.spec.commandTimeout));
  }

  async heloEvent(helo: string): Promise<string | undefined> {
    return this.result(await this.event(SMFIC.HELO, cstr(helo), SMFIP.NOHELO, SMFIP.NR_HELO, SMFIM.HELO, this.spec.commandTimeout));
  }

  async mailEvent(args: readonly string[]): Promise<string | undefined> {
    if (this.state === 'accept-msg') this.state = 'ready';
    return this.result(await this.event(SMFIC.MAIL, Buffer.concat(args.map(cstr)), SMFIP.NOMAIL, SMFIP.NR_MAIL, SMFIM.ENVFROM, this.spec.commandTimeout));
  }

  async rcptEvent(args: readonly string[]): Promise<string | undefined> {
    return this.result(await this.event(SMFIC.RCPT, Buffer.concat(args.map(cstr)), SMFIP.NORCPT, SMFIP.NR_RCPT, SMFIM.ENVRCPT, this.spec.commandTimeout));
  }

  async dataEvent(): Promise<string | undefined> {
    if (this.version < 4) return undefined;
    return this.result(await this.event(SMFIC.DATA, Buffer.alloc(0), SMFIP.NODATA, SMFIP.NR_DATA, SMFIM.DATA, this.spec.commandTimeout));
  }

  /**
   * The message: headers (name and value as in the message, folded with
   * "\n"), end of headers, the body in chunks (CRLF line ends), end of message.
   */
  async messageEvent(headers: readonly { name: string; value: string }[], body: Buffer): Promise<{ reply: string | undefined; edits: MilterEdit[] }> {
    const edits: MilterEdit[] = [];
    const t = this.spec.contentTimeout;
    for (const h of headers) {
      let value = h.value;
      if (!(this.steps & SMFIP.HDR_LEADSPC) && value.startsWith(' ')) value = value.slice(1);
      const r = await this.event(SMFIC.HEADER, Buffer.concat([cstr(h.name), cstr(value)]), SMFIP.NOHDRS, SMFIP.NR_HDR, SMFIM.EOH, t);
      if (r !== undefined && r !== 'skip') return { reply: r, edits: [] };
    }
    const eoh = await this.event(SMFIC.EOH, Buffer.alloc(0), SMFIP.NOEOH, SMFIP.NR_EOH, SMFIM.EOH, t);
    if (eoh !== undefined && eoh !== 'skip') return { reply: eoh, edits: [] };
    const crlf = Buffer.from(body.toString('latin1').replace(/\r?\n/g, '\r\n'), 'latin1');
    for (let off = 0; off < crlf.length; off += CHUNK_SIZE) {
      const r = await this.event(SMFIC.BODY, crlf.subarray(off, off + CHUNK_SIZE), SMFIP.NOBODY, SMFIP.NR_BODY, undefined, t);
      if (r === 'skip') break;
      if (r !== undefined) return { reply: r, edits: [] };
    }
    if (this.skipped()) return { reply: this.state === 'error' ? this.errorReply : undefined, edits: [] };
    const eom = await this.event(SMFIC.BODYEOB, Buffer.alloc(0), 0, 0, SMFIM.EOM, t, edits);
    if (this.state === 'ready') this.state = 'accept-msg';
    return { reply: this.result(eom), edits: eom === undefined || eom === 'D' || eom.startsWith('H') ? edits : [] };
  }

  private result(r: string | undefined | 'skip'): string | undefined {
    return r === 'skip' ? undefined : r;
  }

  /** The transaction ends (RSET, after DATA, a new MAIL). */
  abort(): void {
    if (this.state === 'error' || this.state === 'accept-conn' || this.state === 'reject-conn' || !this.socket) return;
    this.write(SMFIC.ABORT);
    this.state = 'ready';
  }

  /** The session ends. */
  quit(): void {
    if (!this.socket) return;
    if (this.state !== 'error') this.write(SMFIC.QUIT);
    this.socket.end();
    this.socket = undefined;
  }
}
