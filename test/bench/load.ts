/**
 * The benchmark's own SMTP load generator (smtp-source's job when Postfix's
 * tools are missing, and the latency probe always): C concurrent sessions, one
 * message per connection, each timed from connect to the 250 after DATA.
 */
import { connect } from 'node:net';

export interface LoadResult {
  readonly sent: number;
  readonly failed: number;
  readonly seconds: number;
  /** Accept latency per message, ms, sorted. */
  readonly latencies: readonly number[];
}

function message(size: number, i: number): Buffer {
  const head = `From: load@client.test\r\nTo: user@remote.test\r\nSubject: benchmark ${i}\r\nMessage-ID: <bench-${i}-${process.pid}@client.test>\r\n\r\n`;
  const line = 'abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789\r\n';
  let body = '';
  while (head.length + body.length < size) body += line;
  return Buffer.from(`${head}${body}.\r\n`);
}

/** One SMTP session: greeting, HELO, MAIL, RCPT, DATA, message, QUIT. Resolves with the accept latency. */
function session(port: number, data: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const s = connect(port, '127.0.0.1');
    const script = ['HELO client.test\r\n', 'MAIL FROM:<load@client.test>\r\n', 'RCPT TO:<user@remote.test>\r\n', 'DATA\r\n', data, 'QUIT\r\n'];
    let step = 0;
    let buf = '';
    let accepted = 0;
    s.setNoDelay(true);
    s.on('data', (chunk) => {
      buf += chunk.toString('latin1');
      for (;;) {
        const nl = buf.indexOf('\n');
        if (nl < 0) return;
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line[3] === '-') continue;
        const code = Number(line.slice(0, 3));
        const want = step === 4 ? 354 : step === 0 ? 220 : 250;
        if (code !== want && !(step === 6 && code === 221)) {
          s.destroy();
          reject(new Error(`step ${step}: ${line}`));
          return;
        }
        if (step === 5) accepted = Number(process.hrtime.bigint() - t0) / 1e6;
        if (step === 6) {
          s.end();
          resolve(accepted);
          return;
        }
        s.write(script[step]!);
        step++;
      }
    });
    s.on('error', reject);
  });
}

export async function runLoad(port: number, messages: number, sessions: number, size: number): Promise<LoadResult> {
  const data = message(size, 0);
  let next = 0;
  let failed = 0;
  const latencies: number[] = [];
  const started = process.hrtime.bigint();
  const worker = async () => {
    while (next < messages) {
      next++;
      try {
        latencies.push(await session(port, data));
      } catch {
        failed++;
      }
    }
  };
  await Promise.all(Array.from({ length: sessions }, worker));
  return { sent: latencies.length, failed, seconds: Number(process.hrtime.bigint() - started) / 1e9, latencies: latencies.sort((a, b) => a - b) };
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}
