/**
 * A scripted milter on loopback: the milter side of the Sendmail milter
 * protocol (libmilter's mfdef.h, version 6), for tests of the MTA side
 * (@postern/milter, smtpd_milters, non_smtpd_milters) that need no real milter.
 *
 * Protocol: a packet is a 4-byte big-endian length (the command byte
 * included), the command byte, then its data; strings are NUL-terminated.
 * The server answers SMFIC_OPTNEG with the version, actions (SMFIF_*), steps
 * (SMFIP_*) and macro list it is given; SMFIC_MACRO, SMFIC_ABORT, SMFIC_QUIT
 * and SMFIC_QUIT_NC get no answer (SMFIC_QUIT ends the connection); every
 * other command is answered by the test's rule, SMFIR_CONTINUE by default.
 *
 * Records, per connection: every packet, the macros (merged, and by the
 * packet that sent them), the connect information, HELO, the MAIL and RCPT
 * arguments, and the headers and body of the message in progress.
 *
 * The command and reply letters are written here rather than imported from
 * @postern/milter: that package's own tests use this server, and a
 * dependency on it would make a cycle. Tests name actions and steps with
 * @postern/milter's SMFIF and SMFIP.
 */
import { createServer, type Server, type Socket } from 'node:net';

/** One packet from the MTA: the command letter (SMFIC_*), its data, and the data as text cut at each NUL. */
export interface MilterPacket {
  readonly cmd: string;
  readonly data: Buffer;
  /** The data as UTF-8, split at each NUL (the empty string after the last NUL dropped). */
  readonly args: string[];
}

/** SMFIC_CONNECT: the client's host name, family ('4', '6', 'L' or 'U'), port and address. */
export interface MilterConnectInfo {
  readonly name: string;
  readonly family: string;
  readonly port: number;
  readonly address: string;
}

/** What the milter saw of one connection from the MTA. */
export interface MilterSession {
  /** Every packet, in order, SMFIC_OPTNEG and SMFIC_MACRO included. */
  readonly packets: MilterPacket[];
  /** Every macro defined in the session, the latest value of each. */
  readonly macros: Map<string, string>;
  /** Each SMFIC_MACRO packet: the command letter it goes with and its macros. */
  readonly macroPackets: { readonly stage: string; readonly macros: Map<string, string> }[];
  connect?: MilterConnectInfo;
  helo?: string;
  /** Each MAIL command's arguments: the sender in <>, then its ESMTP parameters. */
  readonly mail: string[][];
  /** Each RCPT command's arguments, likewise. */
  readonly rcpt: string[][];
  /** The message in progress: its headers (name, value); cleared once SMFIC_BODYEOB is answered and on SMFIC_ABORT. */
  headers: [string, string][];
  /** The message in progress: its body chunks (SMFIC_BODY) as UTF-8, cleared with the headers. */
  body: string;
}

/** One reply packet to the MTA (SMFIR_*). */
export interface MilterReply {
  readonly cmd: string;
  readonly data: Buffer;
}

/**
 * The test's answer to a command (not called for SMFIC_OPTNEG, SMFIC_MACRO,
 * SMFIC_ABORT, SMFIC_QUIT, SMFIC_QUIT_NC): the replies to send in order, an
 * empty list for none (a command the negotiated steps leave unanswered, or a
 * milter that goes silent), undefined for SMFIR_CONTINUE. The session is
 * recorded before the rule is called.
 */
export type MilterRule = (packet: MilterPacket, session: MilterSession) => MilterReply | readonly MilterReply[] | undefined;

export interface MilterServerOptions {
  /** The protocol version answered in negotiation (default 6). */
  readonly version?: number;
  /** The actions the milter asks for (SMFIF_*; default 0, none). */
  readonly actions?: number;
  /** The steps it skips or leaves unanswered (SMFIP_*; default 0). */
  readonly steps?: number;
  /** Macro lists after the negotiation's three words: for each stage, a 4-byte stage number and the names, NUL-terminated. */
  readonly symlist?: Buffer;
  /** The answer to each command (default: SMFIR_CONTINUE to all). */
  readonly rule?: MilterRule;
}

export interface MilterServer {
  readonly port: number;
  /** One a connection from the MTA, in the order they came. */
  readonly sessions: MilterSession[];
  /** Every packet of every session, in order. */
  readonly packets: MilterPacket[];
  /** Closes the listener and the connections still open. */
  stop(): Promise<void>;
}

const nul = (...strings: string[]): Buffer => Buffer.from(strings.map((s) => `${s}\0`).join(''));
const reply = (cmd: string, data: Buffer = Buffer.alloc(0)): MilterReply => ({ cmd, data });
const indexed = (cmd: string, index: number, name: string, value: string): MilterReply => {
  const i = Buffer.alloc(4);
  i.writeUInt32BE(index, 0);
  return reply(cmd, Buffer.concat([i, nul(name, value)]));
};

/** Reply packets by name (SMFIR_*), plus `raw` for any letter and data (a malformed reply, say). */
export const milterReply = {
  /** SMFIR_CONTINUE */
  continue: (): MilterReply => reply('c'),
  /** SMFIR_ACCEPT */
  accept: (): MilterReply => reply('a'),
  /** SMFIR_REJECT */
  reject: (): MilterReply => reply('r'),
  /** SMFIR_TEMPFAIL */
  tempfail: (): MilterReply => reply('t'),
  /** SMFIR_DISCARD */
  discard: (): MilterReply => reply('d'),
  /** SMFIR_SKIP: no more body chunks */
  skip: (): MilterReply => reply('s'),
  /** SMFIR_PROGRESS: still working */
  progress: (): MilterReply => reply('p'),
  /** SMFIR_REPLYCODE: "550 5.7.1 text" */
  replyCode: (text: string): MilterReply => reply('y', nul(text)),
  /** SMFIR_QUARANTINE, with the reason */
  quarantine: (reason: string): MilterReply => reply('q', nul(reason)),
  /** SMFIR_ADDHEADER: appended after the last header */
  addHeader: (name: string, value: string): MilterReply => reply('h', nul(name, value)),
  /** SMFIR_INSHEADER: inserted at `index` (0 is first) */
  insertHeader: (index: number, name: string, value: string): MilterReply => indexed('i', index, name, value),
  /** SMFIR_CHGHEADER: the `index`th (from 1) header called `name`; an empty value deletes it */
  changeHeader: (index: number, name: string, value: string): MilterReply => indexed('m', index, name, value),
  /** SMFIR_REPLBODY */
  replaceBody: (body: string | Buffer): MilterReply => reply('b', Buffer.from(body)),
  /** SMFIR_ADDRCPT */
  addRcpt: (address: string): MilterReply => reply('+', nul(address)),
  /** SMFIR_DELRCPT */
  delRcpt: (address: string): MilterReply => reply('-', nul(address)),
  /** SMFIR_CHGFROM */
  changeFrom: (address: string): MilterReply => reply('e', nul(address)),
  /** Any reply letter and data. */
  raw: reply,
} as const;

/** The value of the first header called `name` (any case) in the message in progress. */
export function messageHeader(session: MilterSession, name: string): string | undefined {
  return session.headers.find(([n]) => n.toLowerCase() === name.toLowerCase())?.[1];
}

/** A rule that answers SMFIC_BODYEOB with `edits(session)` and then SMFIR_CONTINUE, and every other command with SMFIR_CONTINUE. */
export function atEndOfMessage(edits: (session: MilterSession) => readonly MilterReply[]): MilterRule {
  return (packet, session) => (packet.cmd === 'E' ? [...edits(session), milterReply.continue()] : undefined);
}

/** SMFIC_CONNECT's data: host name NUL, family byte, then (but for 'U') a 2-byte port and the address NUL. */
function connectInfo(data: Buffer): MilterConnectInfo {
  const end = data.indexOf(0);
  const name = data.subarray(0, end).toString('utf8');
  const family = end + 1 < data.length ? String.fromCharCode(data[end + 1]!) : '';
  if (end + 4 > data.length) return { name, family, port: 0, address: '' };
  const address = data.subarray(end + 4).toString('utf8').replace(/\0$/, '');
  return { name, family, port: data.readUInt16BE(end + 2), address };
}

/** Records `packet` in `session`. */
function record(session: MilterSession, packet: MilterPacket): void {
  session.packets.push(packet);
  const { cmd, data, args } = packet;
  if (cmd === 'D') {
    const pairs = data.subarray(1).toString('utf8').split('\0');
    const macros = new Map<string, string>();
    for (let i = 0; i + 1 < pairs.length; i += 2) macros.set(pairs[i]!, pairs[i + 1]!);
    session.macroPackets.push({ stage: data.length ? String.fromCharCode(data[0]!) : '', macros });
    for (const [k, v] of macros) session.macros.set(k, v);
  } else if (cmd === 'C') session.connect = connectInfo(data);
  else if (cmd === 'H') session.helo = args[0];
  else if (cmd === 'M') session.mail.push(args.filter(Boolean));
  else if (cmd === 'R') session.rcpt.push(args.filter(Boolean));
  else if (cmd === 'L') session.headers.push([args[0] ?? '', args[1] ?? '']);
  else if (cmd === 'B') session.body += data.toString('utf8');
}

/** The message in progress is over: its headers and body go. */
function endMessage(session: MilterSession): void {
  session.headers = [];
  session.body = '';
}

/** Starts a milter on 127.0.0.1 (ephemeral port) that negotiates as `options` says and answers by its rule. */
export async function startMilterServer(options: MilterServerOptions = {}): Promise<MilterServer> {
  const sessions: MilterSession[] = [];
  const sockets = new Set<Socket>();
  const negotiation = Buffer.alloc(12);
  negotiation.writeUInt32BE(options.version ?? 6, 0);
  negotiation.writeUInt32BE(options.actions ?? 0, 4);
  negotiation.writeUInt32BE(options.steps ?? 0, 8);
  const optneg = reply('O', Buffer.concat([negotiation, options.symlist ?? Buffer.alloc(0)]));

  const serve = (sock: Socket) => {
    sockets.add(sock);
    sock.once('close', () => sockets.delete(sock));
    sock.on('error', () => undefined);
    const session: MilterSession = { packets: [], macros: new Map(), macroPackets: [], mail: [], rcpt: [], headers: [], body: '' };
    sessions.push(session);
    const send = (r: MilterReply) => {
      const head = Buffer.alloc(5);
      head.writeUInt32BE(r.data.length + 1, 0);
      head.write(r.cmd, 4, 'latin1');
      sock.write(Buffer.concat([head, r.data]));
    };
    let buf = Buffer.alloc(0);
    sock.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) {
        const len = buf.readUInt32BE(0);
        const cmd = String.fromCharCode(buf[4]!);
        const data = Buffer.from(buf.subarray(5, 4 + len));
        buf = buf.subarray(4 + len);
        const args = data.toString('utf8').split('\0');
        if (args.at(-1) === '') args.pop();
        const packet: MilterPacket = { cmd, data, args };
        record(session, packet);
        if (cmd === 'O') send(optneg);
        else if (cmd === 'Q') sock.end();
        else if (cmd === 'A') endMessage(session);
        else if (cmd !== 'D' && cmd !== 'K') {
          for (const r of [options.rule?.(packet, session) ?? milterReply.continue()].flat()) send(r);
          if (cmd === 'E') endMessage(session);
        }
      }
    });
  };

  const server: Server = createServer(serve);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  return {
    port: typeof addr === 'object' && addr ? addr.port : 0,
    sessions,
    get packets() {
      return sessions.flatMap((s) => s.packets);
    },
    stop() {
      for (const s of sockets) s.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
