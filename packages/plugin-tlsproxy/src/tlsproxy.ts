/**
 * NAME
 *   tlsproxy - Postern TLS proxy (Postfix tlsproxy(8))
 *
 * SYNOPSIS
 *   master.cf:  tlsproxy  unix  -       -       n       -       0       tlsproxy
 *
 * DESCRIPTION
 *   tlsproxy speaks TLS with a remote SMTP client on behalf of another
 *   service (postscreen's STARTTLS), which speaks plain text with tlsproxy
 *   instead. The caller connects, sends a request, relays the client socket
 *   to this process through master, and then reads and writes the
 *   session's plain text on its connection while tlsproxy encrypts and
 *   decrypts (core's contracts/tlsproxy.ts has the exchange).
 *
 * CONFIGURATION PARAMETERS
 *   tlsproxy_tls_cert_file ($smtpd_tls_cert_file), tlsproxy_tls_key_file
 *   ($smtpd_tls_key_file), tlsproxy_tls_loglevel ($smtpd_tls_loglevel),
 *   tlsproxy_watchdog_timeout (10s).
 *
 * LOGGING
 *   CONNECT from [addr]:port; Anonymous TLS connection established from
 *   [addr]:port: TLSv1.3 with cipher ... (bits/bits bits); TLS handshake
 *   failed for service=postscreen peer=[addr]:port; DISCONNECT [addr]:port.
 *
 * SECURITY
 *   Only services of this mail system reach private/tlsproxy; a relayed
 *   socket without a waiting request is closed.
 */
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { createSecureContext, TLSSocket, type SecureContext } from 'node:tls';
import { onRelay, type Logger, type ServiceMain, type TlsproxyHello, type TlsproxyRelay, type TlsproxyRequest, type TlsproxyResult } from '@postern/core';

interface Pending {
  readonly request: TlsproxyRequest;
  readonly conn: Socket;
  readonly timer: NodeJS.Timeout;
}

const send = (conn: Socket, v: TlsproxyHello | TlsproxyResult) => conn.write(`${JSON.stringify(v)}\n`);

/** Cipher strength as OpenSSL reports it (e.g. AES_256 -> 256). */
function bits(name: string): number {
  const m = /(\d{3})/.exec(name);
  return m ? Number(m[1]) : name.includes('CHACHA20') ? 256 : 128;
}

export class TlsProxy {
  private readonly pending = new Map<string, Pending>();

  constructor(
    private readonly context: SecureContext | undefined,
    private readonly log: Logger,
    private readonly loglevel: number,
    private readonly timeoutMs: number,
  ) {}

  /** A caller connected: read its request, say who we are, wait for the socket. */
  accept(conn: Socket): void {
    conn.on('error', () => undefined);
    let buf = Buffer.alloc(0);
    const onData = (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      const nl = buf.indexOf(0x0a);
      if (nl < 0) {
        if (buf.length > 4096) conn.destroy();
        return;
      }
      conn.off('data', onData);
      conn.pause();
      let req: TlsproxyRequest;
      try {
        req = JSON.parse(buf.subarray(0, nl).toString('utf8')) as TlsproxyRequest;
      } catch {
        this.log.warn('receive request attributes: malformed request');
        conn.destroy();
        return;
      }
      if (req.role !== 'server' || typeof req.nonce !== 'string') {
        this.log.warn(`bad request: role ${String(req.role)}`);
        conn.destroy();
        return;
      }
      this.log.info(`CONNECT from ${req.remote}`);
      if (!this.context) {
        send(conn, { status: 'error', reason: 'TLS is not configured (no tlsproxy_tls_cert_file)' });
        conn.end();
        return;
      }
      const timer = setTimeout(() => {
        this.pending.delete(req.nonce);
        this.log.warn(`timeout waiting for the remote SMTP client of ${req.remote}`);
        conn.destroy();
      }, this.timeoutMs);
      this.pending.set(req.nonce, { request: req, conn, timer });
      conn.once('close', () => {
        clearTimeout(timer);
        this.pending.delete(req.nonce);
      });
      send(conn, { pid: process.pid });
    };
    conn.on('data', onData);
  }

  /** The client socket arrived through master. */
  relayed(data: unknown, handle: unknown): void {
    const nonce = (data as TlsproxyRelay | null)?.tlsproxy;
    const client = handle as Socket | undefined;
    const p = typeof nonce === 'string' ? this.pending.get(nonce) : undefined;
    if (!p || !client) {
      client?.destroy?.();
      return;
    }
    this.pending.delete(nonce!);
    clearTimeout(p.timer);
    this.serve(p, client);
  }

  private serve(p: Pending, client: Socket): void {
    const { conn, request } = p;
    client.on('error', () => undefined);
    client.write(`${request.reply}\r\n`);
    const tls = new TLSSocket(client, { isServer: true, secureContext: this.context });
    const handshake = setTimeout(() => tls.destroy(new Error('handshake timeout')), this.timeoutMs);
    let established = false;
    const close = () => {
      clearTimeout(handshake);
      if (!conn.destroyed) conn.end();
      if (!tls.destroyed) tls.end();
    };
    tls.once('secure', () => {
      established = true;
      clearTimeout(handshake);
      const cipher = tls.getCipher();
      const protocol = tls.getProtocol() ?? cipher.version;
      const b = bits(cipher.name);
      if (this.loglevel >= 1) {
        this.log.info(`Anonymous TLS connection established from ${request.remote}: ${protocol} with cipher ${cipher.standardName ?? cipher.name} (${b}/${b} bits)`);
      }
      send(conn, { status: 'ok', protocol, cipher: cipher.standardName ?? cipher.name, bits: b });
      tls.pipe(conn);
      conn.pipe(tls);
      conn.resume();
    });
    tls.on('error', (err: Error) => {
      if (!established) {
        this.log.info(`TLS handshake failed for service=${request.service} peer=${request.remote}`);
        if (!conn.destroyed) send(conn, { status: 'error', reason: `TLS handshake failed: ${err.message}` });
      }
      close();
    });
    tls.once('close', () => {
      this.log.info(`DISCONNECT ${request.remote}`);
      close();
    });
    conn.once('close', () => tls.destroy());
  }
}

function loadContext(certFile: string, keyFile: string, log: Logger): SecureContext | undefined {
  if (!certFile) return undefined;
  try {
    return createSecureContext({ cert: readFileSync(certFile), key: readFileSync(keyFile || certFile) });
  } catch (err) {
    log.warn(`cannot load TLS certificate or key (${certFile}, ${keyFile}): ${(err as Error).message}`);
    return undefined;
  }
}

export const main: ServiceMain = async (ctx) => {
  const c = ctx.config;
  const proxy = new TlsProxy(
    loadContext(c.get('tlsproxy_tls_cert_file').trim(), c.get('tlsproxy_tls_key_file').trim(), ctx.log),
    ctx.log,
    c.int('tlsproxy_tls_loglevel'),
    c.time('tlsproxy_watchdog_timeout') * 1000,
  );
  const unsubscribe = onRelay((_from, data, handle) => proxy.relayed(data, handle));
  ctx.onConnection((conn) => proxy.accept(conn));
  return {
    async stop() {
      unsubscribe();
    },
  };
};
