/**
 * Milters for the tests: the real opendkim (Debian), signing for one domain
 * with a key made by opendkim-genkey in a temporary directory, a DKIM check
 * of a delivered message (python3-dkim, the key given without DNS), and a
 * small milter written here that speaks the protocol itself and refuses,
 * holds or edits mail by rule.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './instance.js';

const PYTHON = '/usr/bin/python3';

export const OPENDKIM_MISSING =
  !existsSync('/usr/sbin/opendkim') || !existsSync('/usr/sbin/opendkim-genkey')
    ? 'needs the Debian packages opendkim and opendkim-tools'
    : spawnSync(PYTHON, ['-c', 'import dkim']).status !== 0
      ? 'needs the Debian package python3-dkim'
      : undefined;

export class Opendkim {
  readonly dir = mkdtempSync(join(tmpdir(), 'postern-opendkim-'));
  port = 0;
  private proc?: ChildProcess;
  private output = '';

  constructor(
    readonly domain: string,
    readonly selector = 'sel',
  ) {}

  async start(): Promise<void> {
    const gen = spawnSync('/usr/sbin/opendkim-genkey', ['-b', '1024', '-d', this.domain, '-s', this.selector, '-D', this.dir], { encoding: 'utf8' });
    if (gen.status !== 0) throw new Error(`opendkim-genkey: ${gen.stderr}`);
    this.port = await freePort();
    const conf = join(this.dir, 'opendkim.conf');
    writeFileSync(
      conf,
      [
        'Syslog no',
        'Background no',
        'Mode s',
        `Socket inet:${this.port}@127.0.0.1`,
        `Domain ${this.domain}`,
        `Selector ${this.selector}`,
        `KeyFile ${join(this.dir, `${this.selector}.private`)}`,
        'Canonicalization relaxed/simple',
        'RequireSafeKeys no',
        'InternalHosts 127.0.0.1',
        `PidFile ${join(this.dir, 'opendkim.pid')}`,
        '',
      ].join('\n'),
    );
    const proc = spawn('/usr/sbin/opendkim', ['-f', '-x', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = proc;
    proc.stdout.on('data', (d: Buffer) => (this.output += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (this.output += d.toString()));
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`opendkim exited ${proc.exitCode}: ${this.output}`);
      const up = await new Promise<boolean>((r) => {
        const s: Socket = connect(this.port, '127.0.0.1');
        s.once('connect', () => (s.destroy(), r(true)));
        s.once('error', () => r(false));
      });
      if (up) return;
      if (Date.now() > deadline) throw new Error(`opendkim did not listen on ${this.port}: ${this.output}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** The selector's TXT record (from sel.txt), as DNS would serve it. */
  get txtRecord(): string {
    const text = readFileSync(join(this.dir, `${this.selector}.txt`), 'utf8');
    return [...text.matchAll(/"([^"]*)"/g)].map((m) => m[1]).join('');
  }

  /** Verifies the message's DKIM-Signature with python3-dkim, the key given without DNS: the script's output. */
  verify(message: string): { ok: boolean; output: string } {
    const script = [
      'import sys, dkim',
      `txt = ${JSON.stringify(this.txtRecord)}.encode()`,
      `name = ${JSON.stringify(`${this.selector}._domainkey.${this.domain}.`)}.encode()`,
      'def dns(q, timeout=5):',
      '    return txt if q.rstrip(b".") == name.rstrip(b".") else None',
      'msg = sys.stdin.buffer.read()',
      'ok = dkim.verify(msg, dnsfunc=dns)',
      'print("verified" if ok else "failed")',
      'sys.exit(0 if ok else 1)',
    ].join('\n');
    const crlf = message.replace(/\r?\n/g, '\r\n');
    const r = spawnSync(PYTHON, ['-c', script], { input: crlf, encoding: 'utf8' });
    return { ok: r.status === 0, output: `${r.stdout}${r.stderr}` };
  }

  get log(): string {
    return this.output;
  }

  stop(): void {
    this.proc?.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** What the test milter saw of one session. */
export interface SeenSession {
  connect?: { name: string; family: string; port: number; address: string };
  helo?: string;
  mail: string[][];
  rcpt: string[][];
  headers: [string, string][];
  body: string;
  macros: Map<string, string>;
}

/**
 * A milter (protocol 6) that answers by rule:
 *   MAIL from a sender containing "spammer"  -> SMFIR_REPLYCODE 550 5.7.1 spammer go away
 *   RCPT to "blocked@..."                    -> SMFIR_REJECT
 *   Subject containing "tempfail"            -> SMFIR_TEMPFAIL at the end of the message
 *   Subject containing "hold"                -> SMFIR_QUARANTINE
 *   Subject containing "discard"             -> SMFIR_DISCARD
 *   every other message: adds "X-Test-Milter: seen", changes the Subject: to
 *   "[milter] <old>", adds recipient "added@<domain of first rcpt>", deletes
 *   "dropped@..." recipients, and replaces the body when it is "replace me".
 */
export class TestMilter {
  readonly sessions: SeenSession[] = [];
  private readonly server: Server;
  port = 0;

  constructor() {
    this.server = createServer((sock) => this.serve(sock));
  }

  async start(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as { port: number }).port;
  }

  stop(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }

  private serve(sock: Socket): void {
    sock.on('error', () => undefined);
    const seen: SeenSession = { mail: [], rcpt: [], headers: [], body: '', macros: new Map() };
    this.sessions.push(seen);
    let buf = Buffer.alloc(0);
    const send = (cmd: string, data: Buffer = Buffer.alloc(0)) => {
      const head = Buffer.alloc(5);
      head.writeUInt32BE(data.length + 1, 0);
      head.write(cmd, 4, 'latin1');
      sock.write(Buffer.concat([head, data]));
    };
    const str = (s: string) => Buffer.from(`${s}\0`);
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) {
        const len = buf.readUInt32BE(0);
        const cmd = String.fromCharCode(buf[4]!);
        const data = buf.subarray(5, 4 + len);
        buf = buf.subarray(4 + len);
        const parts = data.toString('utf8').split('\0');
        switch (cmd) {
          case 'O': {
            const reply = Buffer.alloc(12);
            reply.writeUInt32BE(6, 0);
            reply.writeUInt32BE(0x1 | 0x2 | 0x4 | 0x8 | 0x10 | 0x20 | 0x40, 4);
            reply.writeUInt32BE(0, 8);
            send('O', reply);
            break;
          }
          case 'D':
            for (let i = 0; i + 1 < parts.length; i += 2) seen.macros.set(i === 0 ? parts[0]!.slice(1) : parts[i]!, parts[i + 1]!);
            break;
          case 'C':
            seen.connect = { name: parts[0]!, family: data[parts[0]!.length + 1] ? String.fromCharCode(data[parts[0]!.length + 1]!) : '', port: data.readUInt16BE(parts[0]!.length + 2), address: data.subarray(parts[0]!.length + 4).toString('utf8').replace(/\0$/, '') };
            send('c');
            break;
          case 'H':
            seen.helo = parts[0];
            send('c');
            break;
          case 'M':
            seen.mail.push(parts.filter(Boolean));
            if (parts[0]!.includes('spammer')) send('y', str('550 5.7.1 spammer go away'));
            else send('c');
            break;
          case 'R':
            seen.rcpt.push(parts.filter(Boolean));
            if (parts[0]!.startsWith('<blocked@')) send('r');
            else send('c');
            break;
          case 'T':
          case 'N':
            send('c');
            break;
          case 'L':
            seen.headers.push([parts[0]!, parts[1]!]);
            send('c');
            break;
          case 'B':
            seen.body += data.toString('utf8');
            send('c');
            break;
          case 'E': {
            const subject = seen.headers.find(([n]) => n.toLowerCase() === 'subject')?.[1] ?? '';
            if (subject.includes('tempfail')) send('t');
            else if (subject.includes('discard')) send('d');
            else if (subject.includes('hold')) {
              send('q', str('held by the test milter'));
              send('c');
            } else {
              send('h', Buffer.concat([str('X-Test-Milter'), str('seen')]));
              const idx = Buffer.alloc(4);
              idx.writeUInt32BE(1, 0);
              send('m', Buffer.concat([idx, str('Subject'), str(`[milter] ${subject}`)]));
              const first = seen.rcpt.at(-1)?.[0] ?? '<x@example.test>';
              send('+', str(`<added@${first.replace(/^<[^@]*@|>$/g, '')}>`));
              for (const r of seen.rcpt) if (r[0]!.startsWith('<dropped@')) send('-', str(r[0]!));
              if (seen.body.replace(/\r\n/g, '\n') === 'replace me\n') send('b', Buffer.from('the milter replaced this body\r\n'));
              send('c');
            }
            seen.headers = [];
            seen.body = '';
            break;
          }
          case 'A':
            seen.headers = [];
            seen.body = '';
            break;
          case 'Q':
            sock.end();
            break;
          default:
            send('c');
        }
      }
    });
  }
}
