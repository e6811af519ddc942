/**
 * The chaos suite's delivery target: an SMTP server on loopback that records
 * the Message-ID of every message it takes, so lost and duplicated mail can
 * be counted. `deferring` makes it answer 451 at RCPT (mail stays queued).
 */
import { createServer, type Server, type Socket } from 'node:net';

export interface Sink {
  readonly port: number;
  /** Message-ID -> times received. */
  readonly received: Map<string, number>;
  deferring: boolean;
  close(): Promise<void>;
}

export async function startSink(): Promise<Sink> {
  const received = new Map<string, number>();
  const open = new Set<Socket>();
  const sink = { received, deferring: false } as Sink & { port: number };
  const server: Server = createServer((s) => {
    open.add(s);
    s.on('close', () => open.delete(s));
    s.on('error', () => undefined);
    let inData = false;
    let buf = '';
    let message = '';
    s.write('220 sink.test ESMTP\r\n');
    s.on('data', (chunk) => {
      buf += chunk.toString('latin1');
      let out = '';
      for (;;) {
        if (inData) {
          const end = buf.indexOf('\r\n.\r\n');
          if (end < 0) {
            // keep the headers, the rest only up to the end marker
            if (message.length < 4096) message += buf.slice(0, Math.max(0, buf.length - 4));
            buf = buf.slice(-4);
            break;
          }
          message += buf.slice(0, end);
          buf = buf.slice(end + 5);
          inData = false;
          const id = /^Message-ID:\s*(\S+)/im.exec(message)?.[1] ?? '';
          received.set(id, (received.get(id) ?? 0) + 1);
          message = '';
          out += '250 2.0.0 Ok: queued\r\n';
          continue;
        }
        const nl = buf.indexOf('\r\n');
        if (nl < 0) break;
        const cmd = buf.slice(0, 4).toUpperCase();
        buf = buf.slice(nl + 2);
        if (cmd === 'EHLO') out += '250-sink.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n';
        else if (cmd === 'RCPT' && sink.deferring) out += '451 4.3.0 sink is deferring\r\n';
        else if (cmd === 'DATA') {
          out += sink.deferring ? '554 5.5.1 Error: no valid recipients\r\n' : '354 End data with <CR><LF>.<CR><LF>\r\n';
          if (!sink.deferring) {
            inData = true;
            message = '';
            buf = `\r\n${buf}`;
          }
        } else if (cmd === 'QUIT') {
          s.end('221 2.0.0 Bye\r\n');
          return;
        } else out += '250 2.0.0 Ok\r\n';
      }
      if (out) s.write(out);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  sink.port = (server.address() as { port: number }).port;
  sink.close = () =>
    new Promise((r) => {
      server.close(() => r());
      for (const s of open) s.destroy();
    });
  return sink;
}
