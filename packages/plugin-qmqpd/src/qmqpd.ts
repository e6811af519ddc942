/**
 * qmqpd(8) - Postfix QMQP server
 *
 * SYNOPSIS
 *   master.cf: 628 inet n - n - - qmqpd
 *
 * DESCRIPTION
 *   The QMQP server receives one message per connection. Each message is
 *   piped through cleanup(8) and placed into the incoming queue as one
 *   single queue record. The server adds a Received: header
 *   ("Received: from NAME (NAME [ADDR]) by $myhostname ($mail_name) with
 *   QMQP id QUEUEID ..."), and hands cleanup the client attributes with the
 *   protocol QMQP. Only clients that match qmqpd_authorized_clients may use
 *   the service: others get a permanent error and the connection ends.
 *
 *   The server logs "connect from NAME[ADDR]", "QUEUEID: client=NAME[ADDR]"
 *   and "disconnect from NAME[ADDR]", and for a broken dialogue
 *   "QUEUEID: REASON: NAME[ADDR] while STAGE" (NOQUEUE before a queue ID).
 *
 * PROTOCOL
 *   QMQP (cr.yp.to/proto/qmqp.html): the client sends one netstring whose
 *   content is the message netstring, the envelope sender netstring and
 *   one netstring per envelope recipient (bare addresses, no <>). The
 *   server answers one netstring: "K" text when the message is queued
 *   ("Kok: queued as ID" spelled Postfix's way: "KOk: queued as ID"),
 *   "Z" text for a temporary failure, "D" text for a permanent one. Bad
 *   input: a malformed netstring or a packet whose parts do not add up gets
 *   "D" with the reason ("Error: netstring format error while receiving
 *   message content") where Postfix only logs and hangs up; a sender or
 *   recipient longer than line_length_limit gets "D ... netstring length
 *   exceeds storage limit"; a message larger than message_size_limit is
 *   read and dropped, then "DError: message too large". The server keeps
 *   running whatever a client sends.
 *
 * CONFIGURATION PARAMETERS
 *   qmqpd_authorized_clients (empty)  who may use the service (empty: no one)
 *   qmqpd_timeout (300s)  time limit for sending or receiving data
 *   qmqpd_error_delay (1s)  pause before a negative reply
 *   qmqpd_client_port_logging (no)  log the client port too
 *   message_size_limit (10240000), line_length_limit (2048)  size limits
 *   myhostname, mail_name  the Received: header
 *
 * SECURITY
 *   QMQP has no authentication: only trusted networks belong in
 *   qmqpd_authorized_clients. The message content is kept in memory up to
 *   message_size_limit while the envelope (which follows it) arrives; with
 *   message_size_limit = 0 that is unbounded.
 */
import type { Socket } from 'node:net';
import { CLEANUP, TABLES, inject, injectable, tryUse, type CleanupService, type ConfigView, type Logger, type ServiceContext, type ServiceMain, type TableRegistry } from '@postern/core';
import { createTableRegistry } from '@postern/tables';
import { clientList, peerName, plainAddress, type Peer } from './qmqpd-peer.js';
import { NetstringReader } from './qmqpd-netstring.js';
import { QmqpdSession, type SessionSettings } from './qmqpd-session.js';

type DependencyContainer = ServiceContext['container'];

export interface QmqpdOptions {
  readonly tables?: TableRegistry;
  /** How client names are found (default: reverse lookup, forward-confirmed). */
  readonly lookupName?: (address: string) => Promise<string>;
}

export interface Qmqpd {
  /** Serves one accepted connection. */
  accept(socket: Socket): void;
  /** Sessions in progress. */
  readonly sessions: number;
  stop(graceful: boolean): Promise<void>;
}

/** What qmqpd takes from its container: cleanup (in-process or its client). */
@injectable()
export class QmqpdServices {
  constructor(@inject(CLEANUP) readonly cleanup: CleanupService) {}
}

/** Builds a QMQP server for this configuration (master.cf -o overrides already applied). */
export function createQmqpd(config: ConfigView, log: Logger, container: DependencyContainer, options: QmqpdOptions = {}): Qmqpd {
  const { cleanup } = container.resolve(QmqpdServices);
  let tables = options.tables ?? tryUse(container, TABLES);
  const settings: SessionSettings = {
    cleanup,
    log,
    authorized: clientList(config.list('qmqpd_authorized_clients'), () => (tables ??= createTableRegistry({ log }))),
    timeout: config.time('qmqpd_timeout'),
    errorDelay: config.time('qmqpd_error_delay') * 1000,
    messageSizeLimit: config.size('message_size_limit'),
    addressLimit: config.int('line_length_limit') || 2048,
    myhostname: config.get('myhostname'),
    mailName: config.get('mail_name') || 'Postern',
  };
  const portLogging = config.bool('qmqpd_client_port_logging');
  const lookupName = options.lookupName ?? ((a: string) => peerName(a));
  const active = new Set<Promise<void>>();

  async function serve(socket: Socket): Promise<void> {
    const address = plainAddress(socket.remoteAddress ?? '');
    const port = socket.remotePort ?? 0;
    // Buffer what the client sends while its name is looked up (whoever
    // handed us the socket may resume it after this returns).
    const reader = new NetstringReader(socket);
    const name = address ? await lookupName(address) : 'unknown';
    const peer: Peer = { name, address, port, namaddr: portLogging ? `${name}[${address}]:${port}` : `${name}[${address}]` };
    await new QmqpdSession(socket, peer, settings, reader).run();
  }

  return {
    accept(socket) {
      socket.on('error', () => undefined);
      const p = serve(socket).catch((err: unknown) => log.warn(`qmqpd session: ${err instanceof Error ? err.message : String(err)}`));
      active.add(p);
      void p.finally(() => active.delete(p));
    },
    get sessions() {
      return active.size;
    },
    async stop(graceful) {
      if (graceful) await Promise.all([...active]);
    },
  };
}

export const main: ServiceMain = async (ctx) => {
  const qmqpd = createQmqpd(ctx.config, ctx.log, ctx.container);
  ctx.onConnection((socket) => qmqpd.accept(socket));
  return { stop: (graceful: boolean) => qmqpd.stop(graceful) };
};
