/**
 * Hostile input, seeded: SMTP sessions of random bytes, NULs, 100 KB lines,
 * bare CR/LF, pipelined garbage, 1,000 RCPTs, a huge AUTH, a TLS ClientHello
 * on the plain port, a disconnect in the middle of DATA, and clients that
 * send one byte per second; QMQP sessions of broken netstrings; sendmail
 * runs with random input. Counted: sessions the server did not close within
 * `k` x smtpd_timeout (for SMTP, plus smtpd's error tarpit), oversized lines that got no reply, crashed processes,
 * the RSS of the whole system before and after, and whether normal mail is
 * still delivered afterwards.
 */
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { childrenOf } from '../lib/instance.js';
import { message, sendOne } from './client.js';
import { random, type Random } from './random.js';
import type { Sink } from './sink.js';
import type { Target } from './targets.js';

export interface FuzzFigures {
  smtpSessions: number;
  slowClients: number;
  slowClosed: number;
  outlived: number;
  oversized: number;
  oversizedUnanswered: number;
  qmqpSessions: number;
  qmqpOutlived: number;
  sendmailRuns: number;
  sendmailCrashes: number;
  crashes: number;
  rssBeforeMB: number;
  rssAfterMB: number;
  normalDelivered: string;
  seconds: number;
}

const CRASH = /(warning: process \S+ pid \d+ (exit status [1-9]|killed by signal))|(fatal: )/;

/** RSS of master and its processes (MB). */
function systemRss(master: number | undefined): number {
  if (!master) return 0;
  let kb = 0;
  for (const pid of [master, ...childrenOf(master)]) {
    try {
      kb += Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
    } catch {
      /* gone */
    }
  }
  return Math.round(kb / 102.4) / 10;
}

interface Session {
  /** Resolves with the time the server closed the socket (or undefined if it did not within `wait`). */
  readonly closed: Promise<number | undefined>;
  replies: number;
  readonly socket: Socket;
}

function open(port: number, wait: number): Promise<Session | undefined> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let greeted = false;
    const session = { replies: 0, socket } as { replies: number; socket: Socket; closed: Promise<number | undefined> };
    session.closed = new Promise((done) => {
      const timer = setTimeout(() => done(undefined), wait);
      socket.on('close', () => {
        clearTimeout(timer);
        done(Date.now());
      });
    });
    socket.on('error', () => undefined);
    socket.on('data', (d) => {
      session.replies += (d.toString('latin1').match(/^\d{3} /gm) ?? []).length;
      if (!greeted) {
        greeted = true;
        resolve(session);
      }
    });
    socket.on('close', () => {
      if (!greeted) resolve(undefined);
    });
    if (port) setTimeout(() => !greeted && resolve(session), 5000);
  });
}

const write = (s: Socket, data: string | Buffer) => {
  if (!s.destroyed) s.write(data);
};
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One hostile SMTP session of kind `kind`; resolves with what it saw. */
async function smtpSession(port: number, kind: number, rnd: Random, limitMs: number): Promise<{ outlived: boolean; oversized: boolean; answered: boolean }> {
  const s = await open(port, limitMs + 2000);
  if (!s) return { outlived: false, oversized: false, answered: true };
  const before = s.replies;
  let oversized = false;
  switch (kind) {
    case 0:
      write(s.socket, rnd.bytes(1 + rnd.int(4096)));
      break;
    case 1:
      write(s.socket, `EHLO a\0b\r\nMAIL FROM:<\0@x>\r\nNO\0OP\r\n`);
      break;
    case 2:
      oversized = true;
      write(s.socket, `${rnd.int(2) ? 'MAIL FROM:<' : ''}${'A'.repeat(100 * 1024)}\r\n`);
      break;
    case 3:
      write(s.socket, 'EHLO x\rMAIL FROM:<a@b>\nRCPT TO:<c@d>\r\r\n\n\r');
      break;
    case 4:
      write(s.socket, Array.from({ length: 50 }, () => rnd.bytes(20).toString('base64')).join('\r\n') + '\r\n');
      break;
    case 5:
      write(s.socket, 'EHLO x\r\nMAIL FROM:<a@chaos.test>\r\n' + Array.from({ length: 1000 }, (_, i) => `RCPT TO:<r${i}@elsewhere.test>\r\n`).join(''));
      break;
    case 6:
      oversized = true;
      write(s.socket, `EHLO x\r\nAUTH PLAIN ${rnd.bytes(75_000).toString('base64')}\r\n`);
      break;
    case 7:
      write(s.socket, Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]), rnd.bytes(500)]));
      break;
    case 8:
      write(s.socket, 'EHLO x\r\nMAIL FROM:<a@chaos.test>\r\nRCPT TO:<sink@sink.test>\r\nDATA\r\n');
      await pause(200);
      write(s.socket, 'Subject: cut\r\n\r\npart of a message');
      s.socket.destroy();
      return { outlived: false, oversized: false, answered: true };
  }
  // what was sent gets its answers; then the client says QUIT, as a polite one would,
  // unless it is one of those that never do (random bytes, TLS hello)
  await pause(oversized ? 3000 : 300);
  const answered = s.replies > before;
  if (kind !== 0 && kind !== 7) write(s.socket, 'QUIT\r\n');
  const lastByte = Date.now();
  const closedAt = await s.closed;
  s.socket.destroy();
  return { outlived: closedAt === undefined || closedAt - lastByte > limitMs, oversized, answered };
}

/** A client that sends a command one byte per second and never finishes it. */
async function slowClient(port: number, limitMs: number): Promise<boolean> {
  const s = await open(port, limitMs + 2000);
  if (!s) return true;
  const start = Date.now();
  const text = 'NOOP '.padEnd(10_000, 'x');
  let i = 0;
  const drip = setInterval(() => write(s.socket, text[i++ % text.length]!), 1000);
  const closedAt = await s.closed;
  clearInterval(drip);
  s.socket.destroy();
  return closedAt !== undefined && closedAt - start <= limitMs;
}

async function qmqpSession(port: number, rnd: Random, limitMs: number): Promise<boolean> {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  // read (and drop) the answer as a client does: one that never reads cannot see the close
  socket.resume();
  const closed = new Promise<number | undefined>((done) => {
    const timer = setTimeout(() => done(undefined), limitMs + 2000);
    socket.on('close', () => {
      clearTimeout(timer);
      done(Date.now());
    });
  });
  const kinds = [
    () => rnd.bytes(1 + rnd.int(2000)),
    () => Buffer.from(`${1 + rnd.int(99999)}:${rnd.bytes(50).toString('latin1')}`, 'latin1'),
    () => Buffer.from('99999999999999999999:'),
    () => Buffer.from(`30:5:hello,3:a@b,`),
    () => Buffer.from(`${'9'.repeat(5000)}`),
  ];
  socket.write(kinds[rnd.int(kinds.length)]!());
  const last = Date.now();
  const at = await closed;
  socket.destroy();
  return at === undefined || at - last > limitMs;
}

export interface FuzzOptions {
  readonly sessions: number;
  readonly slow: number;
  readonly qmqp: number;
  readonly sendmail: number;
  readonly concurrency: number;
  /** smtpd_timeout (s) the target was configured with. */
  readonly timeout: number;
  /** Sessions must end within this many smtpd_timeouts. */
  readonly k: number;
}

export async function fuzz(target: Target, sink: Sink, rnd: Random, o: FuzzOptions): Promise<FuzzFigures> {
  const started = Date.now();
  const logBefore = target.log().length;
  const limitMs = o.k * o.timeout * 1000;
  // smtpd's documented tarpit comes on top: past smtpd_soft_error_limit (10)
  // every reply waits smtpd_error_sleep_time (1s) until smtpd_hard_error_limit (20)
  const smtpLimitMs = limitMs + (20 - 10) * 1000;
  // warm up: the processes exist before RSS is first measured
  await sendOne(target.smtpPort, 'warm@chaos.test', 'sink@sink.test', message('<warm@chaos.test>', 500));
  await pause(1000);
  const rssBeforeMB = systemRss(target.masterPid());
  const kinds = Array.from({ length: o.sessions }, () => rnd.int(9));
  const seeds = kinds.map(() => rnd.int(2 ** 31));
  let outlived = 0;
  let oversized = 0;
  let oversizedUnanswered = 0;
  let next = 0;
  const slow = Promise.all(Array.from({ length: o.slow }, () => slowClient(target.smtpPort, limitMs)));
  const worker = async () => {
    for (let i = next++; i < kinds.length; i = next++) {
      const r = await smtpSession(target.smtpPort, kinds[i]!, random(seeds[i]!), smtpLimitMs);
      if (r.outlived) outlived++;
      if (r.oversized) {
        oversized++;
        if (!r.answered) oversizedUnanswered++;
      }
    }
  };
  await Promise.all(Array.from({ length: o.concurrency }, worker));
  let qmqpOutlived = 0;
  for (let i = 0; i < o.qmqp; i += o.concurrency) {
    const batch = Array.from({ length: Math.min(o.concurrency, o.qmqp - i) }, () => qmqpSession(target.qmqpPort, rnd, limitMs));
    qmqpOutlived += (await Promise.all(batch)).filter(Boolean).length;
  }
  let sendmailCrashes = 0;
  for (let i = 0; i < o.sendmail; i++) {
    const input = rnd.int(2) ? rnd.bytes(1 + rnd.int(20_000)) : Buffer.from(`To: sink@sink.test\nSubject: ${rnd.bytes(30).toString('latin1')}\n${rnd.bytes(200).toString('latin1')}\n\nbody\n`, 'latin1');
    const r = await target.sendmail(rnd.int(2) ? ['-t', '-i'] : ['-i', 'sink@sink.test'], input);
    if (r.signal) sendmailCrashes++;
  }
  const slowClosed = (await slow).filter(Boolean).length;
  // afterwards, mail still flows
  const ids = Array.from({ length: 20 }, (_, i) => `<after-fuzz-${i}-${rnd.int(1e9)}@chaos.test>`);
  let accepted = 0;
  for (const id of ids) if ((await sendOne(target.smtpPort, 'after@chaos.test', 'sink@sink.test', message(id, 2000))).ok) accepted++;
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline && !ids.every((id) => sink.received.has(id))) await pause(250);
  await pause(2000);
  const rssAfterMB = systemRss(target.masterPid());
  const crashes = target.log().slice(logBefore).split('\n').filter((l) => CRASH.test(l)).length;
  return {
    smtpSessions: o.sessions,
    slowClients: o.slow,
    slowClosed,
    outlived,
    oversized,
    oversizedUnanswered,
    qmqpSessions: o.qmqp,
    qmqpOutlived,
    sendmailRuns: o.sendmail,
    sendmailCrashes,
    crashes,
    rssBeforeMB,
    rssAfterMB,
    normalDelivered: `${ids.filter((id) => sink.received.has(id)).length}/${ids.length} (${accepted} accepted)`,
    seconds: (Date.now() - started) / 1000,
  };
}
