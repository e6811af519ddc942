/**
 * What postscreen's tests share: postscreen in-process on a loopback port
 * (its clock injected, the hand-off to smtpd a hook that greets as smtpd
 * would), a raw line client bound to a chosen 127.0.0.x address, and a wait
 * for a log line.
 */
import { mkdirSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { createConfigView, MemoryLogger, ParameterRegistry, parseMainCf, startServiceInProcess, type InProcessService, type MasterEntry, type TableRegistry } from '@postern/core';
import { PARAMETERS } from '../src/postscreen-params.js';
import { createPostscreenMain } from '../src/postscreen.js';

export const entry = (name: string, type: 'inet' | 'unix'): MasterEntry => ({
  name, type, private: type === 'unix', unprivileged: true, chroot: false, wakeup: 0, wakeupIfUsed: false,
  maxproc: 1, command: name, args: [], overrides: {}, flags: [], file: 'master.cf', line: 1,
});

/** A line client that also hands over the raw socket. */
export class Client {
  private buf = '';
  private readonly lines: string[] = [];
  private waiter: (() => void) | undefined;
  readonly closed: Promise<void>;
  constructor(readonly socket: Socket) {
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      this.buf += d;
      let i;
      while ((i = this.buf.indexOf('\n')) >= 0) {
        this.lines.push(this.buf.slice(0, i).replace(/\r$/, ''));
        this.buf = this.buf.slice(i + 1);
      }
      this.waiter?.();
    });
    socket.on('error', () => undefined);
    this.closed = new Promise((r) => socket.once('close', () => r()));
    socket.once('close', () => this.waiter?.());
  }
  static open(port: number, from: string): Promise<Client> {
    return new Promise((resolve, reject) => {
      const s = connect({ port, host: '127.0.0.1', localAddress: from }, () => resolve(new Client(s)));
      s.once('error', reject);
    });
  }
  async next(): Promise<string> {
    while (this.lines.length === 0) {
      if (this.socket.destroyed) throw new Error('connection closed');
      await new Promise<void>((r) => (this.waiter = r));
    }
    return this.lines.shift()!;
  }
  /** A whole reply, multi-line ones joined with \n. */
  async reply(): Promise<string> {
    const out = [await this.next()];
    while (/^\d{3}-/.test(out[out.length - 1]!)) out.push(await this.next());
    return out.join('\n');
  }
  send(line: string): void {
    this.socket.write(`${line}\r\n`);
  }
}

export const HANDED = '220 smtpd.example.test ESMTP (handed over)';

export interface Rig {
  svc: InProcessService;
  log: MemoryLogger;
  port: number;
  handed: string[];
  clock: { offset: number };
}

/** The default hand-off: greets as smtpd would and closes. */
export const greetAndClose = (socket: Socket): void => void socket.end(`${HANDED}\r\n`);

export async function startPostscreen(dir: string, main: Record<string, string>, serve = greetAndClose, tables?: TableRegistry): Promise<Rig> {
  const registry = ParameterRegistry.withCore();
  registry.declare('@postern/plugin-postscreen', PARAMETERS);
  const queueDir = join(dir, 'spool');
  mkdirSync(join(queueDir, 'private'), { recursive: true });
  const text = Object.entries({
    queue_directory: queueDir,
    myhostname: 'mail.example.test',
    smtpd_banner: '$myhostname ESMTP Postern',
    postscreen_cache_map: '',
    // smtpd's parameters that postscreen's defaults name (smtpd's schema is not loaded here)
    smtpd_client_connection_count_limit: '50',
    smtpd_helo_required: 'no',
    disable_vrfy_command: 'no',
    smtpd_tls_security_level: '',
    smtpd_discard_ehlo_keywords: '',
    smtpd_command_filter: '',
    smtpd_reject_footer: '',
    smtpd_reject_footer_maps: '',
    ...main,
  })
    .map(([k, v]) => `${k} = ${v}\n`)
    .join('');
  const config = createConfigView({ registry, configDirectory: dir, mainCf: parseMainCf(text) });
  const log = new MemoryLogger();
  const handed: string[] = [];
  const clock = { offset: 0 };
  const svc = await startServiceInProcess(
    createPostscreenMain({
      handoff: (socket) => {
        handed.push(`[${socket.remoteAddress}]`);
        serve(socket);
        return true;
      },
      now: () => Date.now() + clock.offset,
      tables,
    }),
    { entry: entry('postscreen', 'inet'), config, log, listen: { port: 0, host: '127.0.0.1' } },
  );
  return { svc, log, port: svc.port, handed, clock };
}

export async function waitLog(log: MemoryLogger, re: RegExp): Promise<string> {
  for (;;) {
    const l = log.lines.find((x) => re.test(x));
    if (l) return l;
    await new Promise((r) => setTimeout(r, 20));
  }
}
