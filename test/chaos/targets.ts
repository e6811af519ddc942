/**
 * The two systems the chaos suite runs against, behind one interface:
 * Postern (the real `postern start-fg`) and the real Postfix 3.7 of the
 * Debian package, each with its own configuration and queue in a temporary
 * directory, smtpd and qmqpd on free loopback ports, and every message
 * relayed to the suite's sink.
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { appendFileSync, existsSync, readFileSync, symlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { freePort, Instance } from '../lib/instance.js';
import { masterCf } from '../lib/system.js';
import { PostfixInstance, POSTFIX_MISSING } from '../lib/postfix.js';

const require = createRequire(import.meta.url);
const SENDMAIL = join(dirname(require.resolve('@postern/cli/package.json')), 'dist', 'src', 'bin', 'sendmail.js');

export interface RunResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
}

export interface Target {
  readonly name: string;
  readonly smtpPort: number;
  readonly qmqpPort: number;
  masterPid(): number | undefined;
  /** Starts master (again, after a kill); resolves once it runs. */
  start(): Promise<void>;
  queueEmpty(): Promise<boolean>;
  flush(): Promise<void>;
  log(): string;
  sendmail(args: readonly string[], input: Buffer): Promise<RunResult>;
  dispose(): Promise<void>;
}

export interface TargetOptions {
  readonly sinkPort: number;
  readonly queueDirectory?: string;
  readonly main?: Readonly<Record<string, string>>;
}

function run(cmd: string, args: readonly string[], input?: Buffer): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'ignore'] });
    let stdout = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stdin.on('error', () => undefined);
    child.stdin.end(input ?? '');
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout });
    });
  });
}

function relayTo(sinkPort: number): Record<string, string> {
  return {
    mydestination: 'localhost',
    relayhost: `[127.0.0.1]:${sinkPort}`,
    smtp_dns_support_level: 'disabled',
    mynetworks: '127.0.0.0/8',
    smtpd_relay_restrictions: 'permit_mynetworks, reject',
    qmqpd_authorized_clients: '127.0.0.0/8',
    qmqpd_error_delay: '0s',
    default_destination_concurrency_limit: '50',
    smtp_destination_concurrency_limit: '50',
    compatibility_level: '3.6',
  };
}

export async function postern(options: TargetOptions): Promise<Target> {
  const smtpPort = await freePort();
  const qmqpPort = await freePort();
  const inst = new Instance({ master: masterCf(smtpPort, `127.0.0.1:${qmqpPort} inet n - n - - qmqpd\npickup unix n - n 60 1 pickup\n`) });
  // the queue elsewhere (a tmpfs): where the instance expects it, through a symbolic link
  if (options.queueDirectory) symlinkSync(options.queueDirectory, inst.queueDir);
  inst.writeMain({ ...relayTo(options.sinkPort), ...options.main });
  let pid: number | undefined;
  return {
    name: 'Postern',
    smtpPort,
    qmqpPort,
    masterPid: () => pid,
    async start() {
      pid = await inst.start();
    },
    queueEmpty: async () => (await inst.postern(['queue', '-p'])).stdout.includes('Mail queue is empty'),
    flush: async () => void (await inst.postern(['queue', '-f'])),
    log: () => inst.log,
    sendmail: (args, input) => run(process.execPath, [SENDMAIL, '-C', inst.configDir, ...args], input),
    async dispose() {
      await inst.stop();
      // a killed master's processes may still be leaving
      await new Promise((r) => setTimeout(r, 500));
      await inst.dispose();
    },
  };
}

export async function postfix(options: TargetOptions): Promise<Target> {
  if (POSTFIX_MISSING) throw new Error(`Postfix: ${POSTFIX_MISSING}`);
  const smtpPort = await freePort();
  const qmqpPort = await freePort();
  const inst = new PostfixInstance({ ...relayTo(options.sinkPort), ...(options.queueDirectory && { queue_directory: options.queueDirectory }), ...options.main });
  appendFileSync(join(inst.configDir, 'master.cf'), `127.0.0.1:${smtpPort} inet n - n - - smtpd\n127.0.0.1:${qmqpPort} inet n - n - - qmqpd\n`);
  const queueDir = options.queueDirectory ?? join(inst.dir, 'queue');
  const pidFile = join(queueDir, 'pid', 'master.pid');
  const masterPid = () => {
    try {
      const n = Number(readFileSync(pidFile, 'utf8').trim());
      process.kill(n, 0);
      return n;
    } catch {
      return undefined;
    }
  };
  const cf = ['-c', inst.configDir];
  return {
    name: 'Postfix',
    smtpPort,
    qmqpPort,
    masterPid,
    async start() {
      const deadline = Date.now() + 20_000;
      for (;;) {
        await run('/usr/sbin/postfix', [...cf, 'start']);
        for (let i = 0; i < 20 && !masterPid(); i++) await new Promise((r) => setTimeout(r, 50));
        // master exits at once when a killed predecessor's processes still hold its ports
        await new Promise((r) => setTimeout(r, 200));
        if (masterPid()) return;
        if (Date.now() > deadline) throw new Error(`postfix did not start:\n${inst.log.slice(-2000)}`);
      }
    },
    queueEmpty: async () => (await run('/usr/sbin/postqueue', [...cf, '-p'])).stdout.includes('Mail queue is empty'),
    flush: async () => void (await run('/usr/sbin/postqueue', [...cf, '-f'])),
    log: () => (existsSync(inst.logFile) ? readFileSync(inst.logFile, 'utf8') : ''),
    sendmail: (args, input) => run('/usr/sbin/sendmail', ['-C', inst.configDir, ...args], input),
    async dispose() {
      inst.dispose();
    },
  };
}
