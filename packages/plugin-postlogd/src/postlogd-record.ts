/**
 * postlogd's records: splitting a connection's bytes into newline-terminated
 * records, each cut at line_length_limit bytes, and shaping a record into
 * one Postfix log line ("Mon DD HH:MM:SS host program[pid]: text").
 */
import { syslogTime } from '@postern/core';

/** A complete Postfix log line: postlogd writes it as the program formatted it. */
const FULL_LINE = /^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \S+ [^\s:]+(?:\[\d+\])?: /;
/** "program[pid]: text" without time and host: postlogd adds them. */
const TAGGED = /^[^\s:[\]]+(?:\[\d+\])?: /;

/**
 * The line postlogd appends for `record`: a full Postfix line as it is; a
 * "program[pid]: text" record behind the time and host; any other text
 * behind the time, host and `tag` (syslog_name/postlog, as postlog(1) tags).
 * Control characters become spaces, so one record is always one line.
 */
export function postlogLine(record: string, host: string, tag: string, now = new Date()): string {
   
  const text = record.replace(/[\x00-\x08\x0a-\x1f\x7f]/g, ' ');
  if (FULL_LINE.test(text)) return `${text}\n`;
  if (TAGGED.test(text)) return `${syslogTime(now)} ${host} ${text}\n`;
  return `${syslogTime(now)} ${host} ${tag}: ${text}\n`;
}

/** What the splitter hands over: a record, and its length in bytes when it was cut. */
export interface SplitRecord {
  readonly text: string;
  /** Set when the record was longer than the limit: its full length in bytes. */
  readonly cutFrom?: number;
}

/**
 * Splits a byte stream into newline-terminated records of at most `limit`
 * bytes. A longer record is handed over cut at the limit once its end is
 * seen; its bytes past the limit are never kept.
 */
export class RecordSplitter {
  private parts: Buffer[] = [];
  private kept = 0;
  private total = 0;

  constructor(private readonly limit: number) {}

  /** True while a record has begun and not ended. */
  get pending(): boolean {
    return this.total > 0;
  }

  push(data: Buffer): SplitRecord[] {
    const out: SplitRecord[] = [];
    let from = 0;
    while (from < data.length) {
      const nl = data.indexOf(0x0a, from);
      const end = nl < 0 ? data.length : nl;
      this.take(data.subarray(from, end));
      if (nl < 0) break;
      out.push(this.finish());
      from = nl + 1;
    }
    return out;
  }

  /** The record left without a newline at the end of the connection, if any. */
  end(): SplitRecord[] {
    return this.total > 0 ? [this.finish()] : [];
  }

  private take(chunk: Buffer): void {
    this.total += chunk.length;
    const room = this.limit - this.kept;
    if (room <= 0) return;
    const piece = chunk.length > room ? chunk.subarray(0, room) : chunk;
    this.parts.push(Buffer.from(piece));
    this.kept += piece.length;
  }

  private finish(): SplitRecord {
    let buf = Buffer.concat(this.parts);
    if (buf.length > 0 && buf[buf.length - 1] === 0x0d && this.total <= this.limit) buf = buf.subarray(0, buf.length - 1);
    const record: SplitRecord = this.total > this.limit ? { text: buf.toString('utf8'), cutFrom: this.total } : { text: buf.toString('utf8') };
    this.parts = [];
    this.kept = 0;
    this.total = 0;
    return record;
  }
}
