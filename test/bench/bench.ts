/**
 * npm run bench: Postern end to end, measured the way ../shared/anchors
 * measures any MTA. A load generator sends N messages of S bytes over C
 * concurrent sessions (one message per connection), Postern relays every one
 * to a loopback sink, and the run reports accepted/s, delivered/s (end to
 * end), p50/p99 accept latency and the peak RSS of all Postern processes.
 *
 * Load generator and sink: Postfix's smtp-source and smtp-sink when they are
 * installed, the benchmark's own Node ones otherwise; latency always comes
 * from a probe run of the Node generator (smtp-source does not time messages).
 * When a real Postfix is running as ../shared/anchors/postfix-setup.sh sets it
 * up (127.0.0.1:2525, relaying to a sink on 127.0.0.1:2600), the same runs are
 * made against it, alternating, and the ratio Postern/Postfix is printed.
 *
 *   npm run bench -- [--messages N] [--size S] [--sessions C] [--runs R] [--no-postfix] [--cpu] [--in-process S,S]
 * --cpu also prints Postern's CPU milliseconds per message, by service;
 * --in-process runs those services inside smtpd (in_process_services).
 *   npm run bench -- --mode startup [--runs R]
 *   npm run bench -- --mode listing [--queue N]
 *   npm run bench -- --mode backlog [--backlog N] [--runs R] [--messages N] [--size S] [--sessions C]
 *   npm run bench -- --mode redis [--messages N] [--size S] [--sessions C]   (redis-mode.ts)
 * (see modes.ts).
 * Durability is the same for both: 250 only after the queue write is on disk.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { POSTERN_BIN, freePort } from '../lib/instance.js';
import { benchInstance } from './bench-config.js';
import { benchBacklog, benchListing, benchStartup } from './modes.js';
import { benchRedis } from './redis-mode.js';
import { percentile, runLoad } from './load.js';
import { startNodeSink, type Sink } from './sink.js';

interface Options {
  messages: number;
  size: number;
  sessions: number;
  runs: number;
  postfix: boolean;
  cpu: boolean;
  mode: 'throughput' | 'startup' | 'listing' | 'backlog' | 'redis';
  queue: number;
  backlog: number;
  /** smtpd's in_process_services. */
  inProcess: string;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { messages: 5000, size: 2048, sessions: 20, runs: 1, postfix: true, cpu: false, mode: 'throughput', queue: 1_000_000, backlog: 100_000, inProcess: '' };
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i + 1];
    switch (argv[i]) {
      case '--messages': o.messages = Number(v); i++; break;
      case '--size': o.size = Number(v); i++; break;
      case '--sessions': o.sessions = Number(v); i++; break;
      case '--runs': o.runs = Number(v); i++; break;
      case '--no-postfix': o.postfix = false; break;
      case '--cpu': o.cpu = true; break;
      case '--mode':
        if (v !== 'throughput' && v !== 'startup' && v !== 'listing' && v !== 'backlog' && v !== 'redis') throw new Error(`unknown mode ${v}`);
        o.mode = v; i++; break;
      case '--queue': o.queue = Number(v); i++; break;
      case '--backlog': o.backlog = Number(v); i++; break;
      case '--in-process': o.inProcess = v ?? ''; i++; break;
      default: throw new Error(`unknown option ${argv[i]}`);
    }
  }
  return o;
}

const has = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface ProcInfo {
  readonly pid: number;
  readonly rssKiB: number;
  /** utime + stime, in clock ticks (1/100 s). */
  readonly ticks: number;
  /** The command a Postern service process runs, or "master". */
  readonly name: string;
}

/** `pid` and all its descendants, from /proc. */
function procTree(pid: number): ProcInfo[] {
  const kids = new Map<number, number[]>();
  const info = new Map<number, ProcInfo>();
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ppid = Number(f[1]);
      const args = readFileSync(`/proc/${e}/cmdline`, 'utf8').split('\0').filter(Boolean);
      // service processes are titled "postern/smtpd -n ... -t inet"; master keeps its command line
      const name = /^postern\/(\S+)/.exec(args.join(' '))?.[1] ?? 'master';
      info.set(Number(e), { pid: Number(e), rssKiB: Number(f[21]) * 4, ticks: Number(f[11]) + Number(f[12]), name });
      kids.set(ppid, [...(kids.get(ppid) ?? []), Number(e)]);
    } catch {
      /* gone */
    }
  }
  const out: ProcInfo[] = [];
  const walk = (p: number) => {
    const i = info.get(p);
    if (i) out.push(i);
    for (const k of kids.get(p) ?? []) walk(k);
  };
  walk(pid);
  return out;
}

/** RSS and PSS (KiB), summed over processes. */
interface Memory {
  readonly rss: number;
  readonly pss: number;
}

/**
 * PSS (KiB) of `pid`: its RSS with every shared page divided among the
 * processes that map it. Every Node process maps the same ~40 MiB of the
 * node binary, which RSS counts once per process.
 */
function pssOf(pid: number | string): number {
  try {
    return Number(/^Pss:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/** Memory of `pid` and all its descendants. */
function treeMemory(pid: number): Memory {
  const procs = procTree(pid);
  return { rss: procs.reduce((n, p) => n + p.rssKiB, 0), pss: procs.reduce((n, p) => n + pssOf(p.pid), 0) };
}

/**
 * CPU used by each service of a process tree between construction and
 * report(): sampled, so processes that exit in between keep what was last seen.
 */
class CpuMeter {
  private readonly first = new Map<number, number>();
  private readonly last = new Map<number, ProcInfo>();
  constructor(private readonly pid: number) {
    for (const p of procTree(pid)) this.first.set(p.pid, p.ticks);
  }
  sample(): void {
    // CPU time only grows: an exiting process (a zombie) reads as zero, keep what it had
    for (const p of procTree(this.pid)) if (p.ticks >= (this.last.get(p.pid)?.ticks ?? 0)) this.last.set(p.pid, p);
  }
  /** Milliseconds of CPU per message, by service. */
  report(messages: number): string {
    this.sample();
    const by = new Map<string, number>();
    for (const p of this.last.values()) by.set(p.name, (by.get(p.name) ?? 0) + (p.ticks - (this.first.get(p.pid) ?? 0)) * 10);
    const total = [...by.values()].reduce((a, b) => a + b, 0);
    const parts = [...by].sort((a, b) => b[1] - a[1]).map(([n, ms]) => `${n} ${(ms / messages).toFixed(2)}`);
    return `CPU ms/msg: total ${(total / messages).toFixed(2)} = ${parts.join(', ')}`;
  }
}

/** Memory of every running Postfix program (Debian installs them in /usr/lib/postfix/sbin). */
function postfixMemory(): Memory {
  let rss = 0;
  let pss = 0;
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (!readlinkSync(`/proc/${e}/exe`).startsWith('/usr/lib/postfix/')) continue;
      rss += Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${e}/status`, 'utf8'))?.[1] ?? 0);
      pss += pssOf(e);
    } catch {
      /* gone, or not ours to read */
    }
  }
  return { rss, pss };
}

interface SinkHandle {
  count(): number;
  close(): Promise<void>;
}

async function startSink(port: number): Promise<SinkHandle> {
  if (!has('smtp-sink')) {
    const s: Sink = await startNodeSink(port);
    return s;
  }
  const out = mkdtempSync(join(tmpdir(), 'postern-sink-'));
  const file = join(out, 'sink.out');
  const child = spawn('sh', ['-c', `exec smtp-sink -u nobody -c 127.0.0.1:${port} 1000 > ${file} 2>&1`]);
  await sleep(400);
  return {
    count: () => {
      const text = existsSync(file) ? readFileSync(file, 'latin1') : '';
      const all = text.match(/mesg=(\d+)/g);
      return all ? Number(all[all.length - 1]!.slice(5)) : 0;
    },
    close: async () => {
      child.kill();
      await sleep(100);
      rmSync(out, { recursive: true, force: true });
    },
  };
}

interface RunResult {
  readonly accept: number;
  readonly e2e: number;
  readonly delivered: number;
  readonly p50: number;
  readonly p99: number;
  readonly rssMiB: number;
  readonly pssMiB: number;
}

/** One measured run against `port`, relaying to a fresh sink on `sinkPort`. */
async function measure(port: number, sinkPort: number, o: Options, memoryOf: () => Memory, cpu?: CpuMeter): Promise<RunResult> {
  const sink = await startSink(sinkPort);
  let peak = 0;
  let peakPss = 0;
  const sampler = setInterval(() => {
    const m = memoryOf();
    peak = Math.max(peak, m.rss);
    peakPss = Math.max(peakPss, m.pss);
    cpu?.sample();
  }, 100);
  const t0 = process.hrtime.bigint();
  let accepted: number;
  if (has('smtp-source')) {
    const r = spawnSync('smtp-source', ['-s', String(o.sessions), '-m', String(o.messages), '-l', String(o.size), '-f', 'load@client.test', '-t', 'user@remote.test', `127.0.0.1:${port}`], { stdio: 'ignore' });
    if (r.status !== 0) throw new Error(`smtp-source exited ${r.status}`);
    accepted = o.messages;
  } else {
    accepted = (await runLoad(port, o.messages, o.sessions, o.size)).sent;
  }
  const acceptS = Number(process.hrtime.bigint() - t0) / 1e9;
  const deadline = Date.now() + 300_000;
  while (sink.count() < accepted && Date.now() < deadline) await sleep(20);
  const e2eS = Number(process.hrtime.bigint() - t0) / 1e9;
  const delivered = sink.count();
  if (cpu) console.log(cpu.report(delivered));
  // latency: a probe run with the Node generator (a tenth of the messages)
  const probe = await runLoad(port, Math.max(200, Math.floor(o.messages / 10)), o.sessions, o.size);
  while (sink.count() < delivered + probe.sent && Date.now() < deadline) await sleep(20);
  clearInterval(sampler);
  await sink.close();
  return {
    accept: accepted / acceptS,
    e2e: delivered / e2eS,
    delivered,
    p50: percentile(probe.latencies, 50),
    p99: percentile(probe.latencies, 99),
    rssMiB: peak / 1024,
    pssMiB: peakPss / 1024,
  };
}

/** A Postern instance configured like the Postfix anchor: relay everything to the sink. */
async function startPostern(sinkPort: number, inProcess: string): Promise<{ port: number; proc: ChildProcess; dir: string }> {
  const { dir, etc, port } = await benchInstance(sinkPort, {}, [], inProcess);
  const proc = spawn(process.execPath, [POSTERN_BIN, 'start', '-c', etc], { stdio: 'inherit' });
  await new Promise((r) => proc.once('exit', r));
  const pidFile = join(dir, 'spool', 'pid', 'master.pid');
  if (!existsSync(pidFile)) throw new Error('postern did not start');
  // every service process starts once, and the warm-up mail is gone before measuring
  await warmUp(port, sinkPort, 50, 5, 512);
  return { port, proc, dir };
}

/** Sends `count` messages to `port` and waits until the sink on `sinkPort` has them all. */
async function warmUp(port: number, sinkPort: number, count: number, sessions: number, size: number): Promise<void> {
  const sink = await startSink(sinkPort);
  const sent = (await runLoad(port, count, sessions, size)).sent;
  const deadline = Date.now() + 120_000;
  while (sink.count() < sent && Date.now() < deadline) await sleep(20);
  await sink.close();
}

function masterPid(dir: string): number {
  return Number(readFileSync(join(dir, 'spool', 'pid', 'master.pid'), 'utf8').trim());
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

function fmt(r: RunResult): string {
  return `accepted ${r.accept.toFixed(0)}/s  delivered ${r.e2e.toFixed(0)}/s (${r.delivered})  accept latency p50 ${r.p50.toFixed(1)} ms p99 ${r.p99.toFixed(1)} ms  peak RSS (sum over processes) ${r.rssMiB.toFixed(0)} MiB, PSS ${r.pssMiB.toFixed(0)} MiB`;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  if (o.mode === 'startup') return benchStartup(o.runs === 1 ? 3 : o.runs);
  if (o.mode === 'listing') return benchListing(o.queue);
  if (o.mode === 'backlog') return benchBacklog(o.backlog, o.messages, o.size, o.sessions, o.runs === 1 ? 3 : o.runs);
  if (o.mode === 'redis') return benchRedis(o.messages, o.size, o.sessions);
  const tools = has('smtp-source') && has('smtp-sink') ? "Postfix's smtp-source and smtp-sink" : "the benchmark's own Node generator and sink";
  console.log(
    `postern bench: ${o.messages} messages x ${o.size} bytes over ${o.sessions} sessions, one message per connection; load and sink: ${tools}${o.inProcess ? `; in smtpd's process: ${o.inProcess}` : ''}`,
  );
  const postfixUp = o.postfix && (await listening(2525)) && spawnSync('sh', ['-c', 'postfix status']).status === 0;
  const sinkPort = postfixUp ? 2600 : await freePort();
  const postern = await startPostern(sinkPort, o.inProcess);
  const results: { postern: RunResult[]; postfix: RunResult[] } = { postern: [], postfix: [] };
  try {
    // Both systems get the same warm-up with the runs' own message size: a
    // fresh Node process compiles its hot paths for large messages during
    // the first thousand of them, which a server that has been up does not.
    const warm = Math.max(200, Math.floor(o.messages / 10));
    await warmUp(postern.port, sinkPort, warm, o.sessions, o.size);
    if (postfixUp) await warmUp(2525, 2600, warm, o.sessions, o.size);
    for (let run = 1; run <= o.runs; run++) {
      const pid = masterPid(postern.dir);
      const p = await measure(postern.port, sinkPort, o, () => treeMemory(pid), o.cpu ? new CpuMeter(pid) : undefined);
      results.postern.push(p);
      console.log(`run ${run} postern: ${fmt(p)}`);
      if (postfixUp) {
        const f = await measure(2525, 2600, o, postfixMemory);
        results.postfix.push(f);
        console.log(`run ${run} postfix: ${fmt(f)}`);
      }
    }
  } finally {
    spawnSync(process.execPath, [POSTERN_BIN, 'stop', '-c', join(postern.dir, 'etc')], { stdio: 'ignore' });
    rmSync(postern.dir, { recursive: true, force: true });
  }
  const e2e = median(results.postern.map((r) => r.e2e));
  console.log(`postern median: delivered ${e2e.toFixed(0)}/s, accepted ${median(results.postern.map((r) => r.accept)).toFixed(0)}/s`);
  if (results.postfix.length) {
    const pf = median(results.postfix.map((r) => r.e2e));
    console.log(`postfix median: delivered ${pf.toFixed(0)}/s, accepted ${median(results.postfix.map((r) => r.accept)).toFixed(0)}/s`);
    console.log(`ratio postern/postfix (end to end): ${(e2e / pf).toFixed(2)}`);
  } else {
    console.log('postfix: not running on 127.0.0.1:2525 (set it up with ../shared/anchors/postfix-setup.sh to compare)');
  }
}

main().catch((err: unknown) => {
  console.error(`bench: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
