/**
 * The benchmark's own SMTP sink (smtp-sink's job when Postfix's tools are
 * missing): accepts everything, discards it, counts messages and connections.
 */
import { createServer, type Server } from 'node:net';

export interface Sink {
  readonly count: () => number;
  /** Connections accepted so far. */
  readonly connections: () => number;
  close(): Promise<void>;
}

export async function startNodeSink(port: number): Promise<Sink> {
  let messages = 0;
  let connections = 0;
  const open = new Set<import('node:net').Socket>();
  const server: Server = createServer((s) => {
    connections++;
    open.add(s);
    s.on('close', () => open.delete(s));
    let inData = false;
    let buf = '';
    s.write('220 sink.test ESMTP\r\n');
    s.on('error', () => undefined);
    s.on('data', (chunk) => {
      buf += chunk.toString('latin1');
      let out = '';
      for (;;) {
        if (inData) {
          const end = buf.indexOf('\r\n.\r\n');
          if (end < 0) {
            if (buf.length > 4) buf = buf.slice(-4);
            break;
          }
          buf = buf.slice(end + 5);
          inData = false;
          messages++;
          out += '250 2.0.0 Ok: queued\r\n';
          continue;
        }
        const nl = buf.indexOf('\r\n');
        if (nl < 0) break;
        const cmd = buf.slice(0, nl).slice(0, 4).toUpperCase();
        buf = buf.slice(nl + 2);
        if (cmd === 'EHLO') out += '250-sink.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n';
        else if (cmd === 'DATA') {
          out += '354 End data with <CR><LF>.<CR><LF>\r\n';
          inData = true;
          buf = `\r\n${buf}`;
        } else if (cmd === 'QUIT') {
          s.end('221 2.0.0 Bye\r\n');
          return;
        } else out += '250 2.0.0 Ok\r\n';
      }
      if (out) s.write(out);
    });
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return {
    count: () => messages,
    connections: () => connections,
    close: () =>
      new Promise((r) => {
        server.close(() => r());
        for (const s of open) s.destroy();
      }),
  };
}
