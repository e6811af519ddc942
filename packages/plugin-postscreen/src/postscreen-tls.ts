/**
 * STARTTLS in postscreen's dummy engine through tlsproxy(8) (postscreen_starttls.c):
 * connect to private/$tlsproxy_service_name, ask for a server-side session,
 * relay the client socket to the tlsproxy process through master, and go on
 * with the plain-text connection to tlsproxy (core's contracts/tlsproxy.ts).
 */
import { randomUUID } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { relay, servicePath, SERVICE, type ConfigView, type Logger, type TlsproxyHello, type TlsproxyRequest, type TlsproxyResult } from '@postern/core';
import type { PostscreenTls } from './postscreen-session.js';

/**
 * Reads one JSON line from `sock`; bytes after it stay unread (pushed back,
 * with the socket paused, for the next reader). The listener comes off
 * before the push-back: unshift() on a flowing socket re-emits 'data' at
 * once, and a listener still attached would read its own push-back forever.
 */
export function readLine<T>(sock: Socket, timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    let buf: Buffer = Buffer.alloc(0);
    const stop = () => {
      clearTimeout(timer);
      sock.off('data', onData);
      sock.off('close', onClose);
      sock.pause();
    };
    const onData = (d: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, d]) : d;
      const nl = buf.indexOf(0x0a);
      if (nl < 0) {
        if (buf.length > MAX_LINE) {
          stop();
          reject(new Error('tlsproxy sent an overlong line'));
        }
        return;
      }
      stop();
      const rest = buf.subarray(nl + 1);
      if (rest.length) sock.unshift(rest);
      try {
        resolve(JSON.parse(buf.subarray(0, nl).toString('utf8')) as T);
      } catch (e) {
        reject(e as Error);
      }
    };
    const onClose = () => {
      stop();
      reject(new Error('tlsproxy closed the connection'));
    };
    const timer = setTimeout(() => {
      stop();
      reject(new Error('timeout talking to tlsproxy'));
    }, timeoutMs);
    sock.on('data', onData);
    sock.once('close', onClose);
    sock.resume();
  });
}

/** The longest status line tlsproxy writes is far below this. */
const MAX_LINE = 4096;

export function tlsproxyEngine(config: ConfigView, log: Logger): PostscreenTls {
  const path = servicePath(config, config.get('tlsproxy_service_name') || SERVICE.TLSPROXY, 'private');
  const timeoutMs = Math.max(config.time('postscreen_command_time_limit'), 10) * 1000;
  return {
    async start(client, who) {
      const proxy = connect(path);
      proxy.on('error', () => undefined);
      await new Promise<void>((resolve, reject) => {
        proxy.once('connect', resolve);
        proxy.once('error', reject);
      });
      const nonce = randomUUID();
      const req: TlsproxyRequest = { nonce, role: 'server', remote: `[${who.address}]:${who.port}`, service: 'postscreen', reply: '220 2.0.0 Ready to start TLS' };
      proxy.write(`${JSON.stringify(req)}\n`);
      const hello = await readLine<TlsproxyHello>(proxy, timeoutMs);
      client.pause();
      if (!relay(hello.pid, { tlsproxy: nonce }, client)) {
        proxy.destroy();
        throw new Error('no master to relay the client connection to tlsproxy');
      }
      const result = await readLine<TlsproxyResult>(proxy, timeoutMs);
      if (result.status !== 'ok') {
        proxy.destroy();
        throw new Error(result.reason);
      }
      log.debug(`TLS with ${req.remote}: ${result.protocol} ${result.cipher}`);
      return proxy;
    },
  };
}
