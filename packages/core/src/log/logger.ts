/**
 * Postfix-shaped logging (msg(3) and maillog_file): every line is
 *   Mon DD HH:MM:SS host program[pid]: text
 * where program is syslog_name/service (e.g. postern/smtpd). Lines are written
 * whole, one write per batch, with O_APPEND, so processes sharing a file never
 * interleave inside a line. A file is written synchronously (a page-cache
 * write costs less than handing it to libuv's thread pool, as an fs stream
 * would, for every batch). "/dev/stdout" and "/dev/stderr" write to the
 * process's own streams (master passes them to its children).
 */
import { closeSync, mkdirSync, openSync, writeSync, type WriteStream } from 'node:fs';
import { dirname } from 'node:path';
import { hostname } from 'node:os';
import type { Logger } from '../contracts/logger.js';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** "Nov 21 06:31:00" in local time, as syslog writes it. */
export function syslogTime(d = new Date()): string {
  const p2 = (n: number) => String(n).padStart(2, '0');
  return `${MONTHS[d.getMonth()]} ${String(d.getDate()).padStart(2, ' ')} ${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())}`;
}

/** Where log lines go. */
export interface LogSink {
  write(line: string): void;
  flush(): Promise<void>;
}

/** Lines collected during one turn of the event loop, written as one batch. */
abstract class BatchSink implements LogSink {
  private buf: string[] = [];
  private scheduled = false;
  write(line: string): void {
    this.buf.push(line);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.drain());
    }
  }
  protected drain(): void {
    this.scheduled = false;
    if (this.buf.length === 0) return;
    const text = this.buf.join('');
    this.buf = [];
    this.out(text);
  }
  protected abstract out(text: string): void;
  abstract flush(): Promise<void>;
}

/** stdout or stderr. */
class StreamSink extends BatchSink {
  constructor(private readonly stream: NodeJS.WritableStream) {
    super();
  }
  protected out(text: string): void {
    this.stream.write(text);
  }
  flush(): Promise<void> {
    this.drain();
    return new Promise((resolve) => {
      const ws = this.stream as WriteStream;
      if (typeof ws.writableNeedDrain === 'boolean' && ws.writableNeedDrain) ws.once('drain', () => resolve());
      else resolve();
    });
  }
}

/** maillog_file: each batch appended with one synchronous write. */
class FileSink extends BatchSink {
  private fd: number | undefined;
  constructor(private readonly path: string) {
    super();
    mkdirSync(dirname(path), { recursive: true });
    this.fd = openSync(path, 'a');
  }
  protected out(text: string): void {
    if (this.fd === undefined) return;
    try {
      writeSync(this.fd, text);
    } catch (err) {
      process.stderr.write(`${syslogTime()} postern: warning: ${this.path}: ${(err as Error).message}\n`);
      closeSync(this.fd);
      this.fd = undefined;
    }
  }
  async flush(): Promise<void> {
    this.drain();
  }
}

const sinks = new Map<string, LogSink>();

/** The process-wide sink for `file` ("" or "/dev/stderr": stderr; "/dev/stdout": stdout). */
export function logSink(file: string): LogSink {
  const key = file || '/dev/stderr';
  let sink = sinks.get(key);
  if (sink) return sink;
  if (key === '/dev/stdout') sink = new StreamSink(process.stdout);
  else if (key === '/dev/stderr') sink = new StreamSink(process.stderr);
  else sink = new FileSink(key);
  sinks.set(key, sink);
  return sink;
}

/** Flushes every sink of this process (before exit). */
export async function flushLogs(): Promise<void> {
  await Promise.all([...sinks.values()].map((s) => s.flush()));
}

export interface LoggerOptions {
  /** "postern/smtpd": syslog_name plus the program. */
  readonly program: string;
  /** maillog_file; "" logs to stderr. */
  readonly file?: string;
  readonly host?: string;
  readonly verbose?: boolean;
  /** Also copy warnings and worse to stderr (command-line tools do, like Postfix's msg_vstream). */
  readonly stderr?: boolean;
  readonly sink?: LogSink;
  /** The pid in the line prefix (default: this process's). */
  readonly pid?: number;
}

export class PostfixLogger implements Logger {
  readonly verbose: boolean;
  private readonly sink: LogSink;
  private readonly host: string;
  private readonly prefix: string;

  constructor(private readonly options: LoggerOptions) {
    this.verbose = options.verbose ?? false;
    this.sink = options.sink ?? logSink(options.file ?? '');
    this.host = options.host ?? hostname().split('.')[0]!;
    this.prefix = `${options.program}[${options.pid ?? process.pid}]: `;
  }

  private line(text: string, level: string): void {
    const clean = text.replace(/[\r\n]+/g, ' ');
    this.sink.write(`${syslogTime()} ${this.host} ${this.prefix}${level}${clean}\n`);
    if (level && this.options.stderr && this.options.file && this.options.file !== '/dev/stderr') {
      process.stderr.write(`${this.options.program.split('/').pop()}: ${level}${clean}\n`);
    }
  }

  info(text: string): void {
    this.line(text, '');
  }
  warn(text: string): void {
    this.line(text, 'warning: ');
  }
  error(text: string): void {
    this.line(text, 'error: ');
  }
  fatal(text: string): void {
    this.line(text, 'fatal: ');
  }
  panic(text: string): void {
    this.line(text, 'panic: ');
  }
  debug(text: string): void {
    if (this.verbose) this.line(text, '');
  }
  child(program: string, pid?: number): Logger {
    return new PostfixLogger({ ...this.options, program, sink: this.sink, pid });
  }
}
