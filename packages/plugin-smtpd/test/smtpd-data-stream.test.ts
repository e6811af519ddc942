/**
 * The DATA reader (PosternStream._feedDataStream, an indexOf scan) against
 * smtp-server's own byte-by-byte reader as the reference: the same content
 * and the same commands after the end, however TCP cuts the input.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SMTPStream } from 'smtp-server/lib/smtp-stream.js';
import { PosternStream } from '../src/smtpd-server.js';

interface Outcome {
  readonly data: string;
  readonly bytes: number;
  readonly commands: string[];
}

async function feed(stream: SMTPStream, chunks: readonly Buffer[]): Promise<Outcome> {
  const commands: string[] = [];
  if (stream instanceof PosternStream) {
    stream.onLine = (line, _pending, done) => {
      commands.push(line.toString('latin1'));
      done();
    };
  } else {
    stream.oncommand = (line, done) => {
      commands.push(line.toString('latin1'));
      done?.();
    };
  }
  const data = stream.startDataMode();
  const out: Buffer[] = [];
  data.on('data', (c: Buffer) => out.push(c));
  const ended = new Promise<void>((resolve) => data.once('end', () => resolve()));
  // the chunk that holds the end marker completes only after continue()
  const written = chunks.map((c) => new Promise<void>((resolve) => stream.write(c, () => resolve())));
  await ended;
  stream.continue();
  await Promise.all(written);
  return { data: Buffer.concat(out).toString('latin1'), bytes: stream.dataBytes, commands };
}

/** `text` cut at `cuts` (sorted offsets). */
function cut(text: string, cuts: number[]): Buffer[] {
  const buf = Buffer.from(text, 'latin1');
  const out: Buffer[] = [];
  let from = 0;
  for (const at of cuts) {
    if (at > from && at < buf.length) {
      out.push(buf.subarray(from, at));
      from = at;
    }
  }
  out.push(buf.subarray(from));
  return out;
}

const MESSAGES = [
  'Subject: plain\r\n\r\nhello\r\nworld\r\n.\r\nQUIT\r\n',
  '..first line is a dot\r\nsecond\r\n.\r\nQUIT\r\n',
  '.\r\nRSET\r\nQUIT\r\n',
  '..\r\nonly an escaped dot before\r\n.\r\nNOOP\r\n',
  'a\r\n..b\r\n...c\r\n.d\r\n..\r\n\r\n.\r\nMAIL FROM:<x@y>\r\nQUIT\r\n',
  `Subject: long\r\n\r\n${'line of text\r\n'.repeat(5000)}..\r\n${'x'.repeat(70000)}\r\n.\r\nQUIT\r\n`,
  'bare\nlf\n.\nstill data\r\n.\r\nQUIT\r\n',
];

test('DATA reader: the same content and commands as smtp-server\'s reader, for every way the input is cut', async () => {
  let seed = 7;
  const random = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  for (const text of MESSAGES) {
    const cases: number[][] = [[], [1], [2], [3], [4]];
    // every single cut near the end marker, and random multi-cut splits
    const end = text.indexOf('\r\n.\r\n');
    for (let d = -6; d <= 6; d++) if (end + d > 0) cases.push([end + d]);
    for (let k = 0; k < 40; k++) {
      const n = 1 + random(6);
      cases.push(Array.from({ length: n }, () => random(text.length)).sort((a, b) => a - b));
    }
    for (const cuts of cases) {
      const want = await feed(new SMTPStream(), cut(text, cuts));
      const got = await feed(new PosternStream(), cut(text, cuts));
      assert.deepEqual(got, want, `message ${JSON.stringify(text.slice(0, 30))} cut at ${cuts.join(',')}`);
    }
  }
});
