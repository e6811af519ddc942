/**
 * Throw-away Redis servers for tests and benchmarks: real `redis-server`
 * processes (Debian's redis-server package) on free loopback ports, each in
 * its own temporary directory, with the persistence a mail queue needs
 * (appendonly yes, appendfsync always) unless told otherwise; and a
 * Redis Cluster of several masters made with `redis-cli --cluster create`;
 * and a master with a replica watched by Redis Sentinels.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ioredis } from './ioredis.js';

export interface RedisServerProcess {
  readonly port: number;
  readonly host: string;
  readonly dir: string;
  readonly process: ChildProcess;
  /** "127.0.0.1:port" */
  readonly address: string;
  /** SIGKILL, then start again on the same port and directory (the AOF is replayed). */
  restart(): Promise<void>;
  /** SIGKILL without restarting. */
  kill(): Promise<void>;
  stop(): Promise<void>;
}

/** True when redis-server (and, for clusters, redis-cli) can be run. */
export function haveRedisServer(cluster = false): boolean {
  const ok = (cmd: string) => spawnSync(cmd, ['--version'], { stdio: 'ignore' }).status === 0;
  return ok('redis-server') && (!cluster || ok('redis-cli'));
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

async function waitReady(port: number, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    const r = new (ioredis().Redis)({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    r.on('error', () => undefined);
    try {
      await r.connect();
      const info = await r.info('persistence');
      if (!/loading:1/.test(info)) {
        r.disconnect();
        return;
      }
    } catch {
      /* not yet */
    }
    r.disconnect();
    if (Date.now() > until) throw new Error(`redis-server on port ${port} did not start`);
    await new Promise((res) => setTimeout(res, 50));
  }
}

export interface StartRedisOptions {
  /** appendfsync: always (default), everysec or no; "off" disables the AOF. */
  readonly fsync?: 'always' | 'everysec' | 'no' | 'off';
  readonly cluster?: boolean;
  readonly port?: number;
  readonly extra?: readonly string[];
}

export async function startRedisServer(options: StartRedisOptions = {}): Promise<RedisServerProcess> {
  const port = options.port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), 'postern-redis-'));
  const args = [
    '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--daemonize', 'no', '--protected-mode', 'no',
    '--appendonly', options.fsync === 'off' ? 'no' : 'yes',
    '--appendfsync', options.fsync === 'off' || !options.fsync ? 'always' : options.fsync,
    '--logfile', join(dir, 'redis.log'),
    ...(options.cluster ? ['--cluster-enabled', 'yes', '--cluster-config-file', join(dir, 'nodes.conf'), '--cluster-node-timeout', '2000'] : []),
    ...(options.extra ?? []),
  ];
  return startProcess(port, dir, ['redis-server', ...args]);
}

/** Runs `command` (a redis-server or a Sentinel on `port`, in `dir`) until stopped. */
async function startProcess(port: number, dir: string, command: readonly string[]): Promise<RedisServerProcess> {
  const run = () => spawn(command[0]!, command.slice(1), { stdio: 'ignore' });
  let child: ChildProcess = run();
  await waitReady(port);
  const kill = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise((res) => child.once('exit', res));
    child.kill('SIGKILL');
    await gone;
  };
  return {
    port,
    host: '127.0.0.1',
    dir,
    address: `127.0.0.1:${port}`,
    get process() {
      return child;
    },
    kill,
    async restart() {
      await kill();
      child = run();
      await waitReady(port);
    },
    async stop() {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface RedisClusterProcess {
  readonly nodes: readonly RedisServerProcess[];
  /** Seeds for redis_servers. */
  readonly hosts: readonly string[];
  stop(): Promise<void>;
}

/** A Redis Cluster of `masters` masters (no replicas) on loopback. */
export async function startRedisCluster(masters = 3): Promise<RedisClusterProcess> {
  const nodes: RedisServerProcess[] = [];
  try {
    for (let i = 0; i < masters; i++) nodes.push(await startRedisServer({ cluster: true }));
    const made = spawnSync('redis-cli', ['--cluster', 'create', ...nodes.map((n) => n.address), '--cluster-replicas', '0', '--cluster-yes'], { encoding: 'utf8' });
    if (made.status !== 0) throw new Error(`redis-cli --cluster create failed: ${made.stdout}${made.stderr}`);
    const until = Date.now() + 15_000;
    for (const n of nodes) {
      for (;;) {
        const out = spawnSync('redis-cli', ['-p', String(n.port), 'cluster', 'info'], { encoding: 'utf8' }).stdout;
        if (/cluster_state:ok/.test(out)) break;
        if (Date.now() > until) throw new Error(`cluster node ${n.address} never reached cluster_state:ok`);
        await new Promise((res) => setTimeout(res, 100));
      }
    }
  } catch (err) {
    for (const n of nodes) await n.stop();
    throw err;
  }
  return {
    nodes,
    hosts: nodes.map((n) => n.address),
    async stop() {
      for (const n of nodes) await n.stop();
    },
  };
}

export interface RedisSentinelProcess {
  /** The first master, then its replica (promoted by a failover). */
  readonly servers: readonly RedisServerProcess[];
  readonly sentinels: readonly RedisServerProcess[];
  /** Sentinel addresses, for redis_servers. */
  readonly hosts: readonly string[];
  /** The master name, for redis_sentinel_master. */
  readonly masterName: string;
  /** "host:port" of the master the Sentinels name now. */
  currentMaster(): Promise<string>;
  /** SIGKILLs the current master and waits until the Sentinels have promoted the replica. */
  failover(ms?: number): Promise<string>;
  stop(): Promise<void>;
}

async function redisCommand(port: number, ...args: string[]): Promise<unknown> {
  const r = new (ioredis().Redis)({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  r.on('error', () => undefined);
  try {
    await r.connect();
    return await r.call(args[0]!, ...args.slice(1));
  } finally {
    r.disconnect();
  }
}

/**
 * A master, one replica and `sentinels` Redis Sentinels (quorum 1, a master
 * is down after 1 s) on loopback: enough to see a failover happen.
 */
export async function startRedisSentinel(sentinels = 1, masterName = 'postern'): Promise<RedisSentinelProcess> {
  const servers: RedisServerProcess[] = [];
  const watchers: RedisServerProcess[] = [];
  const stop = async () => {
    for (const n of [...watchers, ...servers]) await n.stop();
  };
  try {
    const master = await startRedisServer();
    servers.push(master);
    servers.push(await startRedisServer({ extra: ['--replicaof', '127.0.0.1', String(master.port)] }));
    for (const until = Date.now() + 15_000; ; ) {
      const info = String(await redisCommand(servers[1]!.port, 'info', 'replication').catch(() => ''));
      if (/master_link_status:up/.test(info)) break;
      if (Date.now() > until) throw new Error('the replica never reached its master');
      await new Promise((res) => setTimeout(res, 100));
    }
    for (let i = 0; i < sentinels; i++) {
      const port = await freePort();
      const dir = mkdtempSync(join(tmpdir(), 'postern-sentinel-'));
      const conf = join(dir, 'sentinel.conf');
      writeFileSync(
        conf,
        [
          `port ${port}`,
          'bind 127.0.0.1',
          'protected-mode no',
          `dir ${dir}`,
          `logfile ${join(dir, 'sentinel.log')}`,
          `sentinel monitor ${masterName} 127.0.0.1 ${master.port} 1`,
          `sentinel down-after-milliseconds ${masterName} 1000`,
          `sentinel failover-timeout ${masterName} 5000`,
          `sentinel parallel-syncs ${masterName} 1`,
          '',
        ].join('\n'),
      );
      watchers.push(await startProcess(port, dir, ['redis-server', conf, '--sentinel']));
    }
  } catch (err) {
    await stop();
    throw err;
  }
  const currentMaster = async () => {
    const [host, port] = (await redisCommand(watchers[0]!.port, 'sentinel', 'get-master-addr-by-name', masterName)) as [string, string];
    return `${host}:${port}`;
  };
  return {
    servers,
    sentinels: watchers,
    hosts: watchers.map((w) => w.address),
    masterName,
    currentMaster,
    async failover(ms = 30_000) {
      const was = await currentMaster();
      const old = servers.find((s) => s.address === was);
      await old?.kill();
      for (const until = Date.now() + ms; ; ) {
        const now = await currentMaster().catch(() => was);
        if (now !== was) {
          const role = String(await redisCommand(Number(now.split(':')[1]), 'role').catch(() => ''));
          if (role.startsWith('master')) return now;
        }
        if (Date.now() > until) throw new Error(`no failover away from ${was} within ${ms} ms`);
        await new Promise((res) => setTimeout(res, 100));
      }
    },
    stop,
  };
}
