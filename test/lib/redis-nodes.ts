/**
 * Several Postern nodes forming one mail system on one Redis, for the
 * end-to-end tests and the benchmark: each node has its own configuration,
 * queue_directory and smtpd address (127.0.0.N, one port for all, so the
 * master.cf service names, and with them anvil's counters, are the same on
 * every node, as they are on real machines), and shares the queue, anvil,
 * flush logs and TLS session cache through Redis. A recording SMTP sink
 * stands for the next hop every node relays to.
 */
import { connect } from 'node:net';
import { createServer, type Server } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, Instance } from './instance.js';

export interface NodeOptions {
  /** redis_servers value. */
  readonly redis: string;
  readonly prefix: string;
  readonly sinkPort: number;
  readonly smtpPort: number;
  /** 2 for 127.0.0.2, ... */
  readonly index: number;
  readonly main?: Readonly<Record<string, string>>;
  readonly extraMaster?: string;
}

export const NODE_MASTER = `cleanup   unix n - n - 0   cleanup
qmgr      unix n - n 300 1 qmgr
rewrite   unix - - n - -   trivial-rewrite
bounce    unix - - n - 0   bounce
defer     unix - - n - 0   bounce
trace     unix - - n - 0   bounce
error     unix - - n - -   error
retry     unix - - n - -   error
smtp      unix - - n - -   smtp
relay     unix - - n - -   smtp
showq     unix n - n - -   showq
flush     unix n - n 1000? 0 flush
anvil     unix - - n - 1   anvil
`;

export class RedisNode {
  readonly inst: Instance;
  readonly host: string;
  constructor(readonly options: NodeOptions) {
    this.host = `127.0.0.${options.index}`;
    this.inst = new Instance({ master: `${options.smtpPort} inet n - n - - smtpd\n${NODE_MASTER}${options.extraMaster ?? ''}` });
    const cf = join(this.inst.configDir, 'redis-tls.cf');
    writeFileSync(cf, `hosts = ${options.redis}\nprefix = ${options.prefix}:tls:\n`);
    this.main = {
      inet_interfaces: this.host,
      mydestination: '',
      relayhost: `[127.0.0.1]:${options.sinkPort}`,
      smtp_dns_support_level: 'disabled',
      mynetworks: '127.0.0.0/8',
      compatibility_level: '3.6',
      queue_backend: 'redis',
      anvil_backend: 'redis',
      flush_backend: 'redis',
      redis_servers: options.redis,
      redis_prefix: options.prefix,
      redis_queue_lease_time: '3s',
      redis_timeout: '3s',
      smtp_destination_concurrency_limit: '20',
      mail_owner: process.env['USER'] ?? 'root',
      ...options.main,
    };
    this.inst.writeMain(this.main);
  }

  /** The node's main.cf settings (beyond the instance's directories). */
  main: Record<string, string>;

  /** Adds to main.cf (before start, or followed by a reload). */
  setMain(extra: Readonly<Record<string, string>>): void {
    this.main = { ...this.main, ...extra };
    this.inst.writeMain(this.main);
  }
}

/** A sink that records the X-Seq header of every message it accepts (250 after `delayMs`). */
export interface RecordingSink {
  readonly port: number;
  /** X-Seq value -> times received. */
  readonly seen: Map<number, number>;
  /** Every RCPT TO address offered, accepted or not (lower case). */
  readonly rcpts: string[];
  total(): number;
  close(): Promise<void>;
}

export interface SinkOptions {
  /** Listen on this port (a sink that comes back where a node deferred to). */
  readonly port?: number;
  /** RCPT TO addresses answered 550 5.1.1 (user unknown). */
  readonly rejectRcpt?: RegExp;
}

export async function startRecordingSink(delayMs = 0, options: SinkOptions = {}): Promise<RecordingSink> {
  const port = options.port ?? (await freePort());
  const seen = new Map<number, number>();
  const rcpts: string[] = [];
  let total = 0;
  const sockets = new Set<import('node:net').Socket>();
  const server: Server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    let buf = '';
    let inData = false;
    s.write('220 sink.test ESMTP\r\n');
    s.on('data', (chunk) => {
      buf += chunk.toString('latin1');
      for (;;) {
        if (inData) {
          const end = buf.indexOf('\r\n.\r\n');
          if (end < 0) return;
          const text = buf.slice(0, end);
          buf = buf.slice(end + 5);
          inData = false;
          const seq = /^X-Seq: (\d+)/im.exec(text)?.[1];
          const done = () => {
            if (s.destroyed) return;
            total++;
            if (seq !== undefined) seen.set(Number(seq), (seen.get(Number(seq)) ?? 0) + 1);
            s.write('250 2.0.0 Ok: queued\r\n');
          };
          if (delayMs > 0) setTimeout(done, delayMs);
          else done();
          continue;
        }
        const nl = buf.indexOf('\r\n');
        if (nl < 0) return;
        const line = buf.slice(0, nl).toUpperCase();
        buf = buf.slice(nl + 2);
        if (line.startsWith('EHLO')) s.write('250-sink.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n');
        else if (line.startsWith('DATA')) {
          inData = true;
          s.write('354 go ahead\r\n');
        } else if (line.startsWith('QUIT')) s.end('221 bye\r\n');
        else if (line.startsWith('RCPT TO:')) {
          const addr = /<([^>]*)>/.exec(line)?.[1]?.toLowerCase() ?? '';
          rcpts.push(addr);
          s.write(options.rejectRcpt?.test(addr) ? `550 5.1.1 <${addr}>: Recipient address rejected: User unknown\r\n` : '250 ok\r\n');
        } else s.write('250 ok\r\n');
      }
    });
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return {
    port,
    seen,
    rcpts,
    total: () => total,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** A message of about `size` bytes carrying `X-Seq: seq`. */
export function seqMessage(seq: number, size: number): Buffer {
  const head = `From: load@client.test\r\nTo: user@remote.test\r\nSubject: load ${seq}\r\nX-Seq: ${seq}\r\nMessage-ID: <seq-${seq}-${process.pid}@client.test>\r\n\r\n`;
  const line = 'abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789\r\n';
  const n = Math.max(0, Math.ceil((size - head.length) / line.length));
  return Buffer.from(`${head}${line.repeat(n)}.\r\n`);
}

/** One SMTP session delivering `data`; resolves with the final reply to DATA (or the first failure). */
export function sendMessage(host: string, port: number, data: Buffer, localAddress?: string, rcpt = 'user@remote.test'): Promise<string> {
  return new Promise((resolve) => {
    const s = connect({ port, host, localAddress });
    const script: (string | Buffer)[] = ['EHLO client.test\r\n', 'MAIL FROM:<load@client.test>\r\n', `RCPT TO:<${rcpt}>\r\n`, 'DATA\r\n', data, 'QUIT\r\n'];
    let step = 0;
    let buf = '';
    let last = '';
    const finish = (r: string) => {
      s.destroy();
      resolve(r);
    };
    s.setTimeout(60_000, () => finish('timeout'));
    s.on('data', (chunk) => {
      buf += chunk.toString('latin1');
      for (;;) {
        const nl = buf.indexOf('\n');
        if (nl < 0) return;
        const line = buf.slice(0, nl).trimEnd();
        buf = buf.slice(nl + 1);
        if (line[3] === '-') continue;
        const code = Number(line.slice(0, 3));
        const want = step === 4 ? 354 : step === 0 ? 220 : 250;
        if (step === 5) last = line;
        if (code !== want && step !== 6) return finish(line);
        if (step === 6) return finish(last);
        s.write(script[step]!);
        step++;
      }
    });
    s.on('error', (err) => finish(`error ${err.message}`));
    s.on('close', () => finish(last || 'closed'));
  });
}

/** Polls `ok` every 100 ms until it holds; fails after `ms`. */
export async function until(what: string, ok: () => boolean | Promise<boolean>, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
