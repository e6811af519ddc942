/**
 * The benchmark's other modes (npm run bench -- --mode NAME):
 *
 *   startup   time from `postern start` to the first accepted message and to
 *             its delivery, on a fresh queue and on a restart
 *   listing   `postern queue -p` and `mailq` over --queue N messages (default
 *             1,000,000), with the system stopped and running: time and the
 *             listing process's peak RSS, at N/10 and at N (constant memory
 *             shows as the same peak)
 *   backlog   fresh mail to one destination with and without a backlog of
 *             --backlog N deferred messages (default 100,000) that are due for
 *             retry at a destination answering 421: the slowdown of the fresh mail
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { QUEUE, type QueueName } from '@postern/core';
import { openQueueStore } from '@postern/queue-lmdb';
import { POSTERN_BIN, freePort } from '../lib/instance.js';
import { benchInstance, postern, type BenchInstance } from './bench-config.js';
import { runLoad } from './load.js';
import { startNodeSink } from './sink.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ms = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;

async function until(probe: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) return false;
    await sleep(5);
  }
  return true;
}

const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function stop(inst: BenchInstance): void {
  postern(inst, 'stop');
}

/** startup: `postern start`, then one message as soon as smtpd answers. */
export async function benchStartup(runs: number): Promise<void> {
  const sinkPort = await freePort();
  const sink = await startNodeSink(sinkPort);
  const inst = await benchInstance(sinkPort);
  try {
    for (let run = 1; run <= runs; run++) {
      const t0 = process.hrtime.bigint();
      const starting = spawn(process.execPath, [POSTERN_BIN, 'start', '-c', inst.etc], { stdio: 'ignore' });
      const started = new Promise<number>((r) => starting.once('exit', () => r(ms(t0))));
      const before = sink.count();
      let accepted = Number.NaN;
      await until(async () => {
        const r = await runLoad(inst.port, 1, 1, 2048);
        if (r.sent === 1) accepted = ms(t0);
        return r.sent === 1;
      }, 30_000);
      const delivered = (await until(() => sink.count() > before, 30_000)) ? ms(t0) : Number.NaN;
      const kind = run === 1 ? 'fresh queue' : 'restart';
      console.log(
        `startup run ${run} (${kind}): postern start returned after ${(await started).toFixed(0)} ms; first message accepted after ${accepted.toFixed(0)} ms, delivered after ${delivered.toFixed(0)} ms`,
      );
      stop(inst);
    }
  } finally {
    stop(inst);
    await sink.close();
    rmSync(inst.dir, { recursive: true, force: true });
  }
}

/** Commits `n` small messages into `queue` with `recipient`, 500 at a time (one LMDB transaction each). */
async function fill(inst: BenchInstance, queue: QueueName, n: number, recipient: string, state?: { nextAttempt: number; reason: string }): Promise<number> {
  const store = openQueueStore({ queueDirectory: inst.spool });
  const body = Buffer.from(`From: bulk@client.test\nTo: ${recipient}\nSubject: queued\n\nbody\n`);
  const t0 = process.hrtime.bigint();
  try {
    for (let i = 0; i < n; i += 500) {
      await Promise.all(
        Array.from({ length: Math.min(500, n - i) }, async () => {
          const w = store.createWriter();
          w.write(body);
          const m = await w.commit({ sender: 'bulk@client.test', recipients: [{ address: recipient }], arrivalTime: Date.now() }, queue);
          if (state) await store.move(m.id, queue, { ...state, attempts: 1 });
        }),
      );
    }
  } finally {
    await store.close();
  }
  return ms(t0);
}

/** RssAnon (KiB) of every process titled postern/showq (the service a running system lists through). */
function showqAnon(): number {
  let kib = 0;
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (!readFileSync(`/proc/${e}/cmdline`, 'utf8').startsWith('postern/showq')) continue;
      kib += Number(/^RssAnon:\s+(\d+) kB/m.exec(readFileSync(`/proc/${e}/status`, 'utf8'))?.[1] ?? 0);
    } catch {
      /* gone */
    }
  }
  return kib;
}

/**
 * Runs a listing command to completion, counting its lines and sampling its
 * peak RSS (VmHWM) and the showq service's memory; `failure` says how it
 * ended when it did not exit 0.
 */
function listing(bin: string, args: readonly string[], configDir: string): Promise<{ ms: number; lines: number; peakMiB: number; anonMiB: number; showqMiB: number; failure: string }> {
  return new Promise((resolve, reject) => {
    let showq = 0;
    const service = setInterval(() => (showq = Math.max(showq, showqAnon())), 200);
    const t0 = process.hrtime.bigint();
    const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, MAIL_CONFIG: configDir } });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
    let peak = 0;
    let anon = 0;
    let lines = 0;
    const poll = setInterval(() => {
      try {
        const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
        const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
        peak = Math.max(peak, kb('VmHWM'));
        // RssAnon leaves out the file pages of a memory-mapped queue (LMDB) that a direct read touches
        anon = Math.max(anon, kb('RssAnon'));
      } catch {
        /* exited */
      }
    }, 20);
    child.stdout.on('data', (d: Buffer) => {
      for (let i = d.indexOf(10); i >= 0; i = d.indexOf(10, i + 1)) lines++;
    });
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearInterval(poll);
      clearInterval(service);
      const failure = code === 0 ? '' : ` FAILED (${signal ?? `exit status ${code}`}): ${stderr.trim().split('\n').slice(-3).join(' | ')}`;
      resolve({ ms: ms(t0), lines, peakMiB: peak / 1024, anonMiB: anon / 1024, showqMiB: showq / 1024, failure });
    });
  });
}

/** listing: queue -p and mailq over a large hold queue, stopped and running. */
export async function benchListing(total: number): Promise<void> {
  const sinkPort = await freePort();
  const inst = await benchInstance(sinkPort, {}, ['showq unix n - n - - showq']);
  const mailq = join(dirname(POSTERN_BIN), 'mailq.js');
  try {
    postern(inst, 'check');
    let have = 0;
    for (const n of [Math.max(1, Math.floor(total / 10)), total]) {
      const wrote = await fill(inst, QUEUE.HOLD, n - have, 'someone@remote.test');
      have = n;
      console.log(`listing: ${n} messages in hold (this step wrote its share in ${(wrote / 1000).toFixed(1)} s)`);
      const stopped = await listing(POSTERN_BIN, ['queue', '-p'], inst.etc);
      console.log(`  stopped: postern queue -p  ${stopped.lines} lines in ${(stopped.ms / 1000).toFixed(1)} s, peak RSS ${stopped.peakMiB.toFixed(0)} MiB, of it anonymous ${stopped.anonMiB.toFixed(0)} MiB${stopped.failure}`);
      postern(inst, 'start');
      const running = await listing(POSTERN_BIN, ['queue', '-p'], inst.etc);
      console.log(`  running (showq): postern queue -p  ${running.lines} lines in ${(running.ms / 1000).toFixed(1)} s, peak RSS ${running.peakMiB.toFixed(0)} MiB, of it anonymous ${running.anonMiB.toFixed(0)} MiB; showq service anonymous ${running.showqMiB.toFixed(0)} MiB${running.failure}`);
      if (existsSync(mailq)) {
        const q = await listing(mailq, [], inst.etc);
        console.log(`  running (showq): mailq  ${q.lines} lines in ${(q.ms / 1000).toFixed(1)} s, peak RSS ${q.peakMiB.toFixed(0)} MiB, of it anonymous ${q.anonMiB.toFixed(0)} MiB; showq service anonymous ${q.showqMiB.toFixed(0)} MiB${q.failure}`);
      }
      stop(inst);
    }
  } finally {
    stop(inst);
    rmSync(inst.dir, { recursive: true, force: true });
  }
}

/**
 * backlog: fresh mail's delivery rate on two instances configured alike, one
 * with an empty queue and one with `backlog` deferred messages due for retry
 * at a destination that answers 421, alternating `runs` times (the machine's
 * own drift between runs is larger than the effect measured). Every run
 * starts the same way: fresh processes, the same warm-up, the same pause.
 */
export async function benchBacklog(backlog: number, messages: number, size: number, sessions: number, runs: number): Promise<void> {
  const sinkPort = await freePort();
  const busyPort = await freePort();
  let busyConnections = 0;
  const busy = createServer((s) => {
    busyConnections++;
    s.on('error', () => undefined);
    s.end('421 4.3.2 backlog.test busy, try again later\r\n');
  });
  await new Promise<void>((r) => busy.listen(busyPort, '127.0.0.1', r));
  const settings = {
    transport_maps: `inline:{ backlog.test=smtp:[127.0.0.1]:${busyPort} }`,
    queue_run_delay: '10s',
    minimal_backoff_time: '10s',
    maximal_backoff_time: '60s',
  };
  const empty = await benchInstance(sinkPort, settings);
  const loaded = await benchInstance(sinkPort, settings);
  const sink = await startNodeSink(sinkPort);
  const deferrals = (text: string) => (text.match(/to=<someone@backlog\.test>.*status=deferred/g) ?? []).length;
  const run = async (inst: BenchInstance, label: string) => {
    postern(inst, 'start');
    const warm = sink.count();
    await runLoad(inst.port, 50, 5, 512);
    await until(() => sink.count() - warm >= 50, 60_000);
    await sleep(2000);
    const connections = busyConnections;
    const logBefore = existsSync(inst.maillog) ? readFileSync(inst.maillog, 'utf8').length : 0;
    const before = sink.count();
    const t0 = process.hrtime.bigint();
    const load = await runLoad(inst.port, messages, sessions, size);
    await until(() => sink.count() - before >= load.sent, 300_000);
    const rate = (sink.count() - before) / (ms(t0) / 1000);
    const retried = deferrals(readFileSync(inst.maillog, 'utf8').slice(logBefore));
    stop(inst);
    console.log(
      `backlog ${label}: fresh mail delivered ${rate.toFixed(0)}/s (${sink.count() - before} of ${messages})${inst === loaded ? `; qmgr re-deferred ${retried} backlog messages during the run, ${busyConnections - connections} connections to the 421 host` : ''}`,
    );
    return rate;
  };
  try {
    const wrote = await fill(loaded, QUEUE.DEFERRED, backlog, 'someone@backlog.test', { nextAttempt: Date.now(), reason: 'backlog.test busy' });
    console.log(`backlog: ${backlog} deferred messages due now for backlog.test (421), written in ${(wrote / 1000).toFixed(1)} s`);
    const without: number[] = [];
    const withBacklog: number[] = [];
    for (let i = 1; i <= runs; i++) {
      without.push(await run(empty, `run ${i} without backlog`));
      withBacklog.push(await run(loaded, `run ${i} with backlog`));
    }
    // each run with the backlog against the run just before it, so the drift cancels
    const slowdowns = withBacklog.map((b, i) => 100 * (1 - b / without[i]!));
    console.log(
      `backlog: median fresh mail ${median(without).toFixed(0)}/s without, ${median(withBacklog).toFixed(0)}/s with; slowdown per pair ${slowdowns.map((x) => `${x.toFixed(1)}%`).join(', ')}, median ${median(slowdowns).toFixed(1)}% (target < 10%)`,
    );
  } finally {
    stop(empty);
    stop(loaded);
    await sink.close();
    busy.close();
    rmSync(empty.dir, { recursive: true, force: true });
    rmSync(loaded.dir, { recursive: true, force: true });
  }
}
