/** A line-oriented TCP or UNIX-domain client for talking to test services. */
import { connect, type Socket } from 'node:net';

export class LineClient {
  private buf = '';
  private waiters: ((line: string) => void)[] = [];
  private lines: string[] = [];
  readonly closed: Promise<void>;

  private constructor(readonly socket: Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      this.buf += d;
      let i;
      while ((i = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, i).replace(/\r$/, '');
        this.buf = this.buf.slice(i + 1);
        const w = this.waiters.shift();
        if (w) w(line);
        else this.lines.push(line);
      }
    });
    socket.on('error', () => undefined);
    this.closed = new Promise((r) => socket.once('close', () => r()));
  }

  /** A TCP port on `host`, or the path of a UNIX-domain socket. */
  static open(port: number | string, host = '127.0.0.1', localAddress?: string): Promise<LineClient> {
    return new Promise((resolve, reject) => {
      const s = connect(typeof port === 'string' ? { path: port } : { port, host, localAddress }, () => resolve(new LineClient(s)));
      s.once('error', reject);
    });
  }

  /** The next line from the server (rejects if the connection closes first). */
  next(timeoutMs = 15_000): Promise<string> {
    const ready = this.lines.shift();
    if (ready !== undefined) return Promise.resolve(ready);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no line from server')), timeoutMs);
      const onClose = () => reject(new Error('connection closed'));
      this.socket.once('close', onClose);
      this.waiters.push((line) => {
        clearTimeout(timer);
        this.socket.off('close', onClose);
        resolve(line);
      });
    });
  }

  send(line: string): void {
    this.socket.write(`${line}\r\n`);
  }

  async ask(line: string): Promise<string> {
    this.send(line);
    return this.next();
  }

  close(): void {
    this.socket.destroy();
  }
}
