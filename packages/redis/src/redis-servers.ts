/**
 * Throw-away Redis servers for tests and benchmarks: real `redis-server`
 * processes (Debian's redis-server package) on free loopback ports, each in
 * its own temporary directory, with the persistence a mail queue needs
 * (appendonly yes, appendfsync always) unless told otherwise; and a
 * Redis Cluster of several masters made with `redis-cli --cluster create`.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';

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
    const r = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
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
  let child: ChildProcess = spawn('redis-server', args, { stdio: 'ignore' });
  await waitReady(port);
  const kill = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise((res) => child.once('exit', res));
    child.kill('SIGKILL');
    await gone;
  };
  const server: RedisServerProcess = {
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
      child = spawn('redis-server', args, { stdio: 'ignore' });
      await waitReady(port);
    },
    async stop() {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return server;
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
