/**
 * A Postern instance for end-to-end tests: a temporary configuration
 * directory, queue and log; the real `postern` command run as a process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
export const POSTERN_BIN = join(dirname(require.resolve('@postern/cli/package.json')), 'dist', 'src', 'bin', 'postern.js');
/** test/fixtures, beside the compiled tests' source tree. */
export const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'fixtures');

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export interface RunResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface InstanceOptions {
  /** main.cf lines added after the defaults (name = value). */
  readonly main?: Readonly<Record<string, string>>;
  /** master.cf text. */
  readonly master: string;
}

export class Instance {
  readonly dir: string;
  readonly configDir: string;
  readonly queueDir: string;
  readonly logFile: string;
  private proc: ChildProcess | undefined;
  private output = '';
  private daemon = false;

  constructor(options: InstanceOptions) {
    this.dir = mkdtempSync(join(tmpdir(), 'postern-e2e-'));
    this.configDir = join(this.dir, 'etc');
    this.queueDir = join(this.dir, 'spool');
    this.logFile = join(this.dir, 'maillog');
    // services that master runs as mail_owner must read the configuration (as Postfix's do)
    chmodSync(this.dir, 0o755);
    mkdirSync(this.configDir, { recursive: true });
    this.writeMain(options.main ?? {});
    this.writeMaster(options.master);
  }

  writeMain(extra: Readonly<Record<string, string>>): void {
    const base: Record<string, string> = {
      queue_directory: this.queueDir,
      data_directory: join(this.dir, 'data'),
      maillog_file: this.logFile,
      myhostname: 'mail.example.test',
      mydomain: 'example.test',
      inet_interfaces: 'loopback-only',
      inet_protocols: 'ipv4',
      mynetworks: '127.0.0.0/8',
      smtpd_peername_lookup: 'no',
      ...extra,
    };
    writeFileSync(join(this.configDir, 'main.cf'), Object.entries(base).map(([k, v]) => `${k} = ${v}\n`).join(''));
  }

  writeMaster(text: string): void {
    writeFileSync(join(this.configDir, 'master.cf'), text);
  }

  /** Runs `postern ARGS -c configDir` to completion. */
  postern(args: readonly string[], input?: string): Promise<RunResult> {
    return new Promise((resolve) => {
      const [sub, ...rest] = args;
      const child = spawn(process.execPath, [POSTERN_BIN, sub!, '-c', this.configDir, ...rest], { stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      child.stdin.end(input ?? '');
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
  }

  /** postern start-fg in the background; resolves when master has written its pid file. */
  async start(): Promise<number> {
    const child = spawn(process.execPath, [POSTERN_BIN, 'start-fg', '-c', this.configDir], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = child;
    child.stdout!.on('data', (d) => (this.output += d));
    child.stderr!.on('data', (d) => (this.output += d));
    const pidFile = join(this.queueDir, 'pid', 'master.pid');
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`master exited ${child.exitCode}:\n${this.output}`);
      if (existsSync(pidFile) && Number(readFileSync(pidFile, 'utf8').trim()) === child.pid) return child.pid!;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`master did not start:\n${this.output}`);
  }

  /** `postern start`: master as a daemon that logs to maillog_file (not stdout, as start-fg does). */
  async startDaemon(): Promise<void> {
    const r = await this.postern(['start']);
    if (r.code !== 0) throw new Error(`postern start: ${r.stderr}`);
    this.daemon = true;
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  /** Everything master and its services logged (start-fg logs to stdout). */
  get log(): string {
    return this.output;
  }

  async waitForLog(pattern: RegExp, timeoutMs = 15_000): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = this.output.match(pattern);
      if (m) return m;
      if (Date.now() > deadline) throw new Error(`no log line matching ${pattern} within ${timeoutMs} ms; log:\n${this.output}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /** Stops master (SIGTERM) and waits for it to exit. */
  async stop(): Promise<void> {
    const child = this.proc;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGTERM');
    await exited;
  }

  async dispose(): Promise<void> {
    await this.stop();
    if (this.daemon) await this.postern(['stop']);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Child processes of `pid` (Linux /proc). */
export function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(entry));
    } catch {
      /* gone */
    }
  }
  return out;
}
