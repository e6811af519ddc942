/**
 * One QMQP connection (Postfix's qmqpd_proto() and qmqpd_receive()): the
 * client sends one packet, a netstring holding the message netstring, the
 * sender netstring and one netstring per recipient; the server answers with
 * one netstring: "K" text (accepted), "Z" text (temporary failure) or "D"
 * text (permanent failure), and the connection ends.
 */
import type { Socket } from 'node:net';
import type { CleanupRequest, CleanupResult, CleanupService, Logger } from '@postern/core';
import { NETSTRING_REASON, NetstringError, NetstringReader, netstring } from './qmqpd-netstring.js';
import type { Peer } from './qmqpd-peer.js';
import { mailDate } from '@postern/address';

export const QMQPD_STAT = { OK: 'K', RETRY: 'Z', HARD: 'D' } as const;
export type QmqpdStatus = (typeof QMQPD_STAT)[keyof typeof QMQPD_STAT];

export interface SessionSettings {
  readonly cleanup: CleanupService;
  readonly log: Logger;
  readonly authorized: (peer: Peer) => Promise<boolean>;
  /** Seconds. */
  readonly timeout: number;
  /** Milliseconds before a negative reply. */
  readonly errorDelay: number;
  /** message_size_limit (0: none): the largest message content kept. */
  readonly messageSizeLimit: number;
  /** line_length_limit: the longest sender or recipient netstring. */
  readonly addressLimit: number;
  readonly myhostname: string;
  readonly mailName: string;
}

/** How long a finished session waits for the client to close before it resets the connection. */
const LINGER_MS = 2000;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The QMQP answer to cleanup's result (qmqpd_send_status()). */
export function cleanupReply(result: CleanupResult): [QmqpdStatus, string] {
  switch (result.status) {
    case 'queued':
    case 'discarded':
      return [QMQPD_STAT.OK, `Ok: queued as ${result.queueId}`];
    case 'tempfail':
      return [QMQPD_STAT.RETRY, `Error: ${result.text}`];
    default:
      if (result.dsn === '5.3.4') return [QMQPD_STAT.HARD, 'Error: message too large'];
      if (result.dsn === '5.4.0') return [QMQPD_STAT.HARD, 'Error: too many hops'];
      if (result.dsn === '5.1.0') return [QMQPD_STAT.HARD, 'Error: no recipients specified'];
      return [QMQPD_STAT.HARD, `Error: ${result.text}`];
  }
}

export class QmqpdSession {
  readonly #reader: NetstringReader;
  #queueId: string | undefined;
  #where: string | undefined;

  /** `reader` must be attached to the socket before anything else can read it. */
  constructor(
    private readonly socket: Socket,
    private readonly peer: Peer,
    private readonly s: SessionSettings,
    reader: NetstringReader = new NetstringReader(socket),
  ) {
    this.#reader = reader;
    socket.setTimeout(s.timeout * 1000, () => {
      this.#reader.fail('time');
      socket.destroy();
    });
  }

  async #reply(status: QmqpdStatus, text: string): Promise<void> {
    if (status !== QMQPD_STAT.OK && this.s.errorDelay > 0) await sleep(this.s.errorDelay);
    this.#where = 'sending completion status';
    if (this.socket.destroyed) throw new NetstringError('eof');
    await new Promise<void>((resolve, reject) =>
      this.socket.write(netstring(`${status}${text}`), (err) => (err ? reject(new NetstringError('eof')) : resolve())),
    );
  }

  /** Runs the dialogue to its end; never throws. */
  async run(): Promise<void> {
    const { log } = this.s;
    const namaddr = this.peer.namaddr;
    log.info(`connect from ${namaddr}`);
    try {
      if (!(await this.s.authorized(this.peer))) {
        await this.#reply(QMQPD_STAT.HARD, `Error: ${namaddr} is not authorized to use this service`);
      } else {
        await this.#receive();
      }
    } catch (err) {
      if (!(err instanceof NetstringError)) {
        log.warn(`${this.#queueId ?? 'NOQUEUE'}: ${namaddr}: ${err instanceof Error ? err.message : String(err)}`);
      } else {
        const reason = NETSTRING_REASON[err.kind];
        if (this.#where) log.info(`${this.#queueId ?? 'NOQUEUE'}: ${reason}: ${namaddr} while ${this.#where}`);
        // A client that sent garbage still hears why, when it listens.
        if ((err.kind === 'format' || err.kind === 'size') && this.#where !== 'sending completion status') {
          await this.#reply(QMQPD_STAT.HARD, `Error: ${reason} while ${this.#where}`).catch(() => undefined);
        }
      }
    } finally {
      log.info(`disconnect from ${namaddr}`);
      // Read and drop whatever else comes, so the client's FIN is seen and
      // the connection closes without a reset that could discard the reply.
      // A client that neither reads nor closes gets a reset after
      // LINGER_MS (at most qmqpd_timeout): Postfix's close() resets a
      // connection with unread input, and nothing is left to say.
      this.socket.removeAllListeners('data');
      this.socket.removeAllListeners('timeout');
      this.socket.setTimeout(0);
      this.socket.resume();
      this.socket.end();
      const linger = setTimeout(() => this.socket.resetAndDestroy(), Math.min(LINGER_MS, this.s.timeout * 1000));
      linger.unref();
      this.socket.once('close', () => clearTimeout(linger));
    }
  }

  async #receive(): Promise<void> {
    const r = this.#reader;
    this.#where = 'receiving QMQP packet header';
    const packetLength = await r.length(Number.MAX_SAFE_INTEGER);
    const packetEnd = r.consumed + packetLength;

    this.#where = 'receiving message content';
    const messageLength = await r.length(packetLength);
    const limit = this.s.messageSizeLimit;
    const tooBig = limit > 0 && messageLength > limit;
    let content: Buffer | undefined;
    if (tooBig) await r.skip(messageLength);
    else content = await r.bytes(messageLength);
    await r.terminator();

    this.#where = 'receiving sender address';
    const sender = (await r.netstring(this.s.addressLimit)).toString('utf8');
    this.#where = 'receiving recipient address';
    const recipients: string[] = [];
    while (r.consumed < packetEnd) recipients.push((await r.netstring(this.s.addressLimit)).toString('utf8'));
    if (r.consumed !== packetEnd) throw new NetstringError('format');
    this.#where = 'receiving QMQP packet header';
    await r.terminator();

    if (tooBig || !content) return this.#reply(QMQPD_STAT.HARD, 'Error: message too large');
    if (recipients.length === 0) return this.#reply(QMQPD_STAT.HARD, 'Error: no recipients specified');
    const [status, text] = await this.#submit(sender, recipients, content);
    await this.#reply(status, text);
  }

  async #submit(sender: string, recipients: readonly string[], body: Buffer): Promise<[QmqpdStatus, string]> {
    const { peer, s } = this;
    const arrival = new Date();
    let queueIdSeen: (id: string) => void = () => undefined;
    const queueId = new Promise<string>((resolve) => (queueIdSeen = resolve));
    const onQueueId = (id: string): void => {
      if (this.#queueId) return;
      this.#queueId = id;
      s.log.info(`${id}: client=${peer.namaddr}`);
      queueIdSeen(id);
    };
    async function* content(): AsyncGenerator<Buffer> {
      const id = await queueId;
      const lines = [`Received: from ${peer.name} (${peer.name} [${peer.address}])`];
      if (recipients.length === 1) {
        lines.push(`\tby ${s.myhostname} (${s.mailName}) with QMQP id ${id}`, `\tfor <${recipients[0]}>; ${mailDate(arrival)}`);
      } else {
        lines.push(`\tby ${s.myhostname} (${s.mailName}) with QMQP`, `\tid ${id}; ${mailDate(arrival)}`);
      }
      yield Buffer.from(`${lines.join('\n')}\n`);
      yield body;
    }
    const request: CleanupRequest = {
      sender,
      recipients: recipients.map((address) => ({ address })),
      client: { name: peer.name, address: peer.address, port: peer.port, protocol: 'QMQP', log: peer.namaddr },
      origin: 'qmqpd',
    };
    try {
      return cleanupReply(await s.cleanup.submit(request, content(), onQueueId));
    } catch (err) {
      s.log.warn(`${this.#queueId ?? 'NOQUEUE'}: cleanup service: ${err instanceof Error ? err.message : String(err)}`);
      return [QMQPD_STAT.RETRY, 'Error: queue file write error'];
    }
  }
}
