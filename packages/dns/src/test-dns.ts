/**
 * A real DNS server for tests: Debian's dnsmasq on a free loopback port,
 * answering only the records a test gives it (--host-record, --txt-record)
 * and NXDOMAIN for every other name of the test's zones (--local), never
 * asking the outside world (--no-resolv, --no-hosts). Tests skip when
 * dnsmasq (package dnsmasq-base) is missing: see `DNSMASQ`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { Resolver } from 'node:dns/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The dnsmasq binary, when installed. */
export const DNSMASQ = ['/usr/sbin/dnsmasq', '/usr/bin/dnsmasq'].find((p) => existsSync(p));

export interface TestDnsOptions {
  /** Zones answered locally (NXDOMAIN for names without records). */
  readonly zones: readonly string[];
  /** name -> A/AAAA addresses. */
  readonly hosts?: Readonly<Record<string, readonly string[]>>;
  /** name -> TXT text (dnsmasq splits it into strings at commas). */
  readonly txt?: Readonly<Record<string, string>>;
  /** domain -> MX hosts (preference 10, 20, ... in this order). */
  readonly mx?: Readonly<Record<string, readonly string[]>>;
  /** domain -> NS hosts. */
  readonly ns?: Readonly<Record<string, readonly string[]>>;
  /** TTL of the host records (seconds). */
  readonly ttl?: number;
}

export interface TestDns {
  readonly port: number;
  /** For postern_dns_servers / Resolver.setServers. */
  readonly server: string;
  stop(): Promise<void>;
}

function freeUdpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4');
    s.once('error', reject);
    s.bind(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** A domain name in DNS wire format, as hex: length-prefixed labels, then a zero byte. */
function wireName(name: string): string {
  const labels = name.replace(/\.$/, '').split('.');
  return [...labels.map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'ascii')])), Buffer.from([0])]
    .map((b) => b.toString('hex'))
    .join('');
}

export async function startTestDns(options: TestDnsOptions): Promise<TestDns> {
  if (!DNSMASQ) throw new Error('dnsmasq is not installed (Debian package dnsmasq-base)');
  const dir = mkdtempSync(join(tmpdir(), 'postern-dns-'));
  const port = await freeUdpPort();
  const ttl = options.ttl ?? 300;
  const args = [
    '--keep-in-foreground',
    '--conf-file=/dev/null',
    '--no-resolv',
    '--no-hosts',
    '--bind-interfaces',
    '--listen-address=127.0.0.1',
    `--port=${port}`,
    `--pid-file=${join(dir, 'dnsmasq.pid')}`,
    '--log-facility=-',
    '--user=root',
    ...options.zones.map((z) => `--local=/${z}/`),
    ...Object.entries(options.hosts ?? {}).flatMap(([name, addrs]) => addrs.map((a) => `--host-record=${name},${a},${ttl}`)),
    ...Object.entries(options.txt ?? {}).map(([name, text]) => `--txt-record=${name},${text}`),
    ...Object.entries(options.mx ?? {}).flatMap(([name, hosts]) => hosts.map((h, i) => `--mx-host=${name},${h},${10 * (i + 1)}`)),
    // dnsmasq has no NS option: the record's data is the host in DNS wire format (type 2)
    ...Object.entries(options.ns ?? {}).flatMap(([name, hosts]) => hosts.map((h) => `--dns-rr=${name},2,${wireName(h)}`)),
  ];
  const child: ChildProcess = spawn(DNSMASQ, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  const server = `127.0.0.1:${port}`;
  const r = new Resolver({ timeout: 200, tries: 1 });
  r.setServers([server]);
  const deadline = Date.now() + 5000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`dnsmasq exited ${child.exitCode}: ${err}`);
    try {
      await r.resolve4(`ready-probe.${options.zones[0]}`);
      break;
    } catch (e) {
      // NXDOMAIN means it answers
      if ((e as NodeJS.ErrnoException).code === 'ENOTFOUND') break;
    }
    if (Date.now() > deadline) throw new Error(`dnsmasq did not answer on ${server}: ${err}`);
    await new Promise((res) => setTimeout(res, 50));
  }
  return {
    port,
    server,
    async stop() {
      if (child.exitCode === null) {
        const gone = new Promise((res) => child.once('exit', res));
        child.kill('SIGTERM');
        await gone;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
