/**
 * npm run bench -- --mode redis [--messages N] [--size S] [--sessions C]
 *
 * The same load, one run each, against three set-ups relaying to one sink:
 *   1. one node on the embedded LMDB queue,
 *   2. one node on the Redis queue (queue_backend = redis),
 *   3. two nodes on that Redis queue, the sessions split between them.
 * Redis runs as a fresh redis-server with appendonly yes + appendfsync
 * always, so every set-up answers 250 only after an fsync, as LMDB does.
 * Each run prints accepted/s, delivered/s end to end, p50/p99 accept latency,
 * the peak RSS of all Postern processes (and of redis-server), and CPU
 * seconds used by Postern and by Redis, which show what limits it.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { startRedisServer, type RedisServerProcess } from '@postern/redis';
import { POSTERN_BIN, freePort } from '../lib/instance.js';
import { seqMessage, sendMessage } from '../lib/redis-nodes.js';
import { benchInstance, postern, type BenchInstance } from './bench-config.js';
import { percentile } from './load.js';
import { startNodeSink, type Sink } from './sink.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** RSS (KiB) and CPU ticks of `pid` and its descendants. */
function tree(pid: number): { rss: number; ticks: number } {
  const kids = new Map<number, number[]>();
  const stat = new Map<number, { rss: number; ticks: number }>();
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const s = readFileSync(`/proc/${e}/stat`, 'utf8');
      const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
      stat.set(Number(e), { rss: Number(f[21]) * 4, ticks: Number(f[11]) + Number(f[12]) });
      kids.set(Number(f[1]), [...(kids.get(Number(f[1])) ?? []), Number(e)]);
    } catch {
      /* gone */
    }
  }
  const out = { rss: 0, ticks: 0 };
  const walk = (p: number) => {
    const s = stat.get(p);
    if (s) {
      out.rss += s.rss;
      out.ticks += s.ticks;
    }
    for (const k of kids.get(p) ?? []) walk(k);
  };
  walk(pid);
  return out;
}

async function startNode(sinkPort: number, main: Record<string, string>): Promise<{ inst: BenchInstance; pid: number }> {
  const inst = await benchInstance(sinkPort, main);
  const proc = spawn(process.execPath, [POSTERN_BIN, 'start', '-c', inst.etc], { stdio: 'inherit' });
  await new Promise((r) => proc.once('exit', r));
  const pidFile = `${inst.spool}/pid/master.pid`;
  if (!existsSync(pidFile)) throw new Error('postern did not start');
  return { inst, pid: Number(readFileSync(pidFile, 'utf8').trim()) };
}

interface Result {
  accept: number;
  e2e: number;
  delivered: number;
  p50: number;
  p99: number;
  rssMiB: number;
  redisMiB: number;
  posternCpu: number;
  redisCpu: number;
}

async function run(ports: readonly number[], pids: readonly number[], redisPid: number | undefined, sink: Sink, messages: number, size: number, sessions: number): Promise<Result> {
  const before = sink.count();
  const cpu0 = pids.reduce((n, p) => n + tree(p).ticks, 0);
  const rcpu0 = redisPid ? tree(redisPid).ticks : 0;
  let peak = 0;
  let redisPeak = 0;
  const sampler = setInterval(() => {
    peak = Math.max(peak, pids.reduce((n, p) => n + tree(p).rss, 0));
    if (redisPid) redisPeak = Math.max(redisPeak, tree(redisPid).rss);
  }, 100);
  const data = seqMessage(0, size);
  const latencies: number[] = [];
  let next = 0;
  const t0 = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: sessions }, async (_, w) => {
      const port = ports[w % ports.length]!;
      while (next < messages) {
        next++;
        const t = process.hrtime.bigint();
        const r = await sendMessage('127.0.0.1', port, data);
        if (r.startsWith('250 ')) latencies.push(Number(process.hrtime.bigint() - t) / 1e6);
      }
    }),
  );
  const acceptS = Number(process.hrtime.bigint() - t0) / 1e9;
  const deadline = Date.now() + 300_000;
  while (sink.count() - before < latencies.length && Date.now() < deadline) await sleep(20);
  const e2eS = Number(process.hrtime.bigint() - t0) / 1e9;
  clearInterval(sampler);
  latencies.sort((a, b) => a - b);
  return {
    accept: latencies.length / acceptS,
    e2e: (sink.count() - before) / e2eS,
    delivered: sink.count() - before,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    rssMiB: peak / 1024,
    redisMiB: redisPeak / 1024,
    posternCpu: (pids.reduce((n, p) => n + tree(p).ticks, 0) - cpu0) / 100,
    redisCpu: redisPid ? (tree(redisPid).ticks - rcpu0) / 100 : 0,
  };
}

export async function benchRedis(messages: number, size: number, sessions: number): Promise<void> {
  console.log(`postern bench --mode redis: ${messages} messages x ${size} bytes over ${sessions} sessions, one message per connection; Node generator and sink`);
  const sinkPort = await freePort();
  const sink = await startNodeSink(sinkPort);
  let redis: RedisServerProcess | undefined;
  const nodes: { inst: BenchInstance; pid: number }[] = [];
  const stopAll = () => {
    for (const n of nodes.splice(0)) {
      postern(n.inst, 'stop');
      rmSync(n.inst.dir, { recursive: true, force: true });
    }
  };
  try {
    redis = await startRedisServer({ fsync: 'always' });
    const redisMain = (i: number) => ({ queue_backend: 'redis', redis_servers: redis!.address, redis_prefix: 'bench', redis_queue_node_name: `bench-node-${i}` });
    const setups: { name: string; main: Record<string, string>[]; redis: boolean }[] = [
      { name: 'one node, LMDB queue', main: [{}], redis: false },
      { name: 'one node, Redis queue', main: [redisMain(1)], redis: true },
      { name: 'two nodes, one Redis queue', main: [redisMain(1), redisMain(2)], redis: true },
    ];
    for (const s of setups) {
      for (const m of s.main) nodes.push(await startNode(sinkPort, m));
      // warm-up: every service starts once
      await run(nodes.map((n) => n.inst.port), nodes.map((n) => n.pid), undefined, sink, 50, 512, 5);
      const r = await run(nodes.map((n) => n.inst.port), nodes.map((n) => n.pid), s.redis ? redis.process.pid : undefined, sink, messages, size, sessions);
      console.log(
        `${s.name}: accepted ${r.accept.toFixed(0)}/s  delivered ${r.e2e.toFixed(0)}/s (${r.delivered})  accept latency p50 ${r.p50.toFixed(1)} ms p99 ${r.p99.toFixed(1)} ms  ` +
          `peak RSS Postern ${r.rssMiB.toFixed(0)} MiB${s.redis ? ` + redis-server ${r.redisMiB.toFixed(0)} MiB` : ''}  CPU s: Postern ${r.posternCpu.toFixed(1)}${s.redis ? `, redis-server ${r.redisCpu.toFixed(1)}` : ''}`,
      );
      stopAll();
      await sleep(500);
    }
  } finally {
    stopAll();
    await sink.close();
    await redis?.stop();
  }
}
