/**
 * A small ESMTP server that offers STARTTLS and shares its session ticket key
 * through tlsmgr as smtpd does (smtp-client's tlsSessionCache and
 * shareTicketKeys): for tests of TLS session resumption that must not depend
 * on the smtpd plugin. It speaks EHLO, STARTTLS, NOOP and QUIT; everything
 * else is 502.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { createSecureContext, TLSSocket, type SecureContext } from 'node:tls';
import { ServiceClients, type ConfigView, type Logger } from '@postern/core';
import { shareTicketKeys, tlsSessionCache } from '@postern/smtp-client';

export interface StarttlsServerOptions {
  /** The process's configuration: queue_directory (where tlsmgr's socket is), smtpd_tls_session_cache_timeout. */
  readonly config: ConfigView;
  readonly certFile: string;
  readonly keyFile: string;
  readonly log?: Logger;
  readonly hostname?: string;
}

export interface StarttlsServer {
  readonly port: number;
  stop(): Promise<void>;
}

/** Starts the server on 127.0.0.1 (ephemeral port); without a tlsmgr service it keeps Node's own ticket key. */
export async function startStarttlsServer(options: StarttlsServerOptions): Promise<StarttlsServer> {
  const name = options.hostname ?? 'mx.example.com';
  const cert = readFileSync(options.certFile);
  const key = readFileSync(options.keyFile);
  let context: SecureContext = createSecureContext({ cert, key });
  const clients = new ServiceClients(options.config);
  const stopTickets = await shareTicketKeys(
    tlsSessionCache(clients, 'smtpd', options.log),
    (ticketKeys) => (context = createSecureContext({ cert, key, ticketKeys })),
    options.log,
  );
  const sockets = new Set<Socket>();

  const session = (socket: Socket, secure: boolean) => {
    let buf = '';
    const onData = (chunk: Buffer) => {
      buf += chunk.toString('latin1');
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl).replace(/\r$/, '');
        buf = buf.slice(nl + 1);
        const verb = line.split(' ')[0]!.toUpperCase();
        if (verb === 'EHLO') socket.write(secure ? `250 ${name}\r\n` : `250-${name}\r\n250 STARTTLS\r\n`);
        else if (verb === 'NOOP') socket.write('250 2.0.0 Ok\r\n');
        else if (verb === 'QUIT') {
          socket.end('221 2.0.0 Bye\r\n');
          return;
        } else if (verb === 'STARTTLS' && !secure) {
          socket.off('data', onData);
          socket.write('220 2.0.0 Ready to start TLS\r\n', () => {
            const tls = new TLSSocket(socket, { isServer: true, secureContext: context });
            tls.on('error', () => socket.destroy());
            tls.once('secure', () => session(tls, true));
          });
          return;
        } else socket.write('502 5.5.2 Error: command not recognized\r\n');
      }
    };
    socket.on('data', onData);
  };

  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.write(`220 ${name} ESMTP\r\n`);
    session(socket, false);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  return {
    port: typeof addr === 'object' && addr ? addr.port : 0,
    async stop() {
      stopTickets();
      clients.close();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
