/**
 * The benchmark's Postern instance: configured like the Postfix anchor
 * (../shared/anchors/postfix-setup.sh): loopback only, no DNS, everything
 * relayed to a sink, the same durability (250 after the fsync'd commit).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { POSTERN_BIN, freePort } from '../lib/instance.js';

export interface BenchInstance {
  readonly dir: string;
  readonly etc: string;
  readonly spool: string;
  readonly maillog: string;
  /** The smtpd port. */
  readonly port: number;
}

export const BENCH_MASTER = [
  'cleanup unix n - n - 0 cleanup',
  'qmgr unix n - n 300 1 qmgr',
  'rewrite unix - - n - - trivial-rewrite',
  'bounce unix - - n - 0 bounce',
  'defer unix - - n - 0 bounce',
  'trace unix - - n - 0 bounce',
  'smtp unix - - n - - smtp',
  'relay unix - - n - - smtp',
  'error unix - - n - - error',
];

/**
 * A fresh instance directory relaying to `sinkPort`; `main` and `master` add to
 * the defaults; `inProcess` is the smtpd's in_process_services (e.g. rewrite,cleanup).
 */
export async function benchInstance(
  sinkPort: number,
  main: Readonly<Record<string, string>> = {},
  master: readonly string[] = [],
  inProcess = '',
): Promise<BenchInstance> {
  const dir = mkdtempSync(join(tmpdir(), 'postern-bench-'));
  const etc = join(dir, 'etc');
  mkdirSync(etc);
  const port = await freePort();
  const spool = join(dir, 'spool');
  const maillog = join(dir, 'maillog');
  const settings: Record<string, string> = {
    queue_directory: spool,
    maillog_file: maillog,
    myhostname: 'bench.postern.test',
    mydestination: '',
    inet_interfaces: 'loopback-only',
    inet_protocols: 'ipv4',
    mynetworks: '127.0.0.0/8',
    smtpd_peername_lookup: 'no',
    relayhost: `[127.0.0.1]:${sinkPort}`,
    smtp_dns_support_level: 'disabled',
    default_destination_concurrency_limit: '50',
    smtp_destination_concurrency_limit: '50',
    compatibility_level: '3.6',
    mail_owner: process.env['USER'] ?? 'root',
    // e.g. "--max-semi-space-size=2 --cpu-prof --cpu-prof-dir=/tmp/prof" to profile every service
    ...(process.env['BENCH_SERVICE_NODE_OPTIONS'] && { service_node_options: process.env['BENCH_SERVICE_NODE_OPTIONS'] }),
    ...main,
  };
  writeFileSync(join(etc, 'main.cf'), Object.entries(settings).map(([k, v]) => `${k} = ${v}\n`).join(''));
  writeFileSync(join(etc, 'master.cf'), [`127.0.0.1:${port} inet n - n - - smtpd${inProcess ? ` -o in_process_services=${inProcess}` : ''}`, ...BENCH_MASTER, ...master, ''].join('\n'));
  return { dir, etc, spool, maillog, port };
}

/** Runs `postern ARGS -c etc` to completion. */
export function postern(inst: BenchInstance, ...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const [sub, ...rest] = args;
  const r = spawnSync(process.execPath, [POSTERN_BIN, sub!, '-c', inst.etc, ...rest], { encoding: 'utf8', maxBuffer: 1 << 30 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
