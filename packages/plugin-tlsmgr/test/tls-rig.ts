/**
 * Test rig: a config in a temp directory, a real tlsmgr on its private unix
 * socket, real smtpd processes (in this process or forked), a STARTTLS client
 * that reports whether its session was resumed, and openssl certificates.
 */
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { fileURLToPath } from 'node:url';
import {
  createConfigView,
  ParameterRegistry,
  SERVICE,
  servicePath,
  startServiceInProcess,
  type ConfigView,
  type Logger,
  type MasterEntry,
  type ServiceMain,
} from '@postern/core';
import { masterEntry } from '@postern/core';
import { PARAMETERS } from '../src/tlsmgr-params.js';

export { MemoryLogger as CaptureLog } from '@postern/core';

export function makeCert(dir: string, cn: string): { cert: string; key: string } {
  const cert = join(dir, `${cn}.crt`);
  const key = join(dir, `${cn}.key`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=${cn}`], { stdio: 'ignore' });
  return { cert, key };
}

export function makeConfig(dir: string, params: Record<string, string>, extra: readonly { name: string; default: string }[] = []): ConfigView {
  const registry = ParameterRegistry.withCore();
  registry.declare('@postern/plugin-tlsmgr', PARAMETERS);
  if (extra.length) registry.declare('test', extra);
  const base: Record<string, string> = {
    myhostname: 'mx.example.com',
    queue_directory: dir,
    data_directory: join(dir, 'data'),
    mynetworks: '127.0.0.1/32',
    smtpd_peername_lookup: 'no',
    ...params,
  };
  return createConfigView({
    registry,
    configDirectory: dir,
    mainCf: Object.entries(base).map(([name, value], i) => ({ kind: 'param' as const, name, value, file: 'main.cf', line: i + 1, endLine: i + 1 })) as never,
    overrides: {},
  });
}

export const entry = (name: string, command: string, type: 'unix' | 'inet'): MasterEntry => masterEntry({ name, type, private: type === 'unix', command });

/** Runs a unix service on its real socket path (queue_directory/private/NAME). */
export async function startUnixService(main: ServiceMain, config: ConfigView, log: Logger, service: string, command = service) {
  const path = servicePath(config, service);
  mkdirSync(dirname(path), { recursive: true });
  return startServiceInProcess(main, { entry: entry(service, command, 'unix'), config, log, listen: { path } });
}

export const tlsmgrPath = (config: ConfigView) => servicePath(config, SERVICE.TLSMGR);

/** Reads one SMTP reply (all lines). */
function reply(sock: Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const onData = (d: Buffer) => {
      buf += d.toString('latin1');
      const lines = buf.split('\r\n');
      const last = lines[lines.length - 2];
      if (last !== undefined && /^\d{3} /.test(last)) {
        sock.off('data', onData);
        resolve(buf);
      }
    };
    sock.on('data', onData);
    sock.once('error', reject);
  });
}

export interface StarttlsResult {
  readonly reused: boolean;
  readonly session: Buffer | undefined;
  readonly fingerprint: string;
  readonly protocol: string | null;
}

/** EHLO, STARTTLS (offering `session`), EHLO again, QUIT. */
export async function starttls(port: number, session?: Buffer, maxVersion?: 'TLSv1.2' | 'TLSv1.3'): Promise<StarttlsResult> {
  const plain = connect(port, '127.0.0.1');
  await reply(plain);
  plain.write('EHLO client.example\r\n');
  await reply(plain);
  plain.write('STARTTLS\r\n');
  const r = await reply(plain);
  if (!r.startsWith('220')) throw new Error(`STARTTLS refused: ${r}`);
  const t = tlsConnect({ socket: plain, rejectUnauthorized: false, servername: 'mx.example.com', ...(session && { session }), ...(maxVersion && { maxVersion }) });
  await new Promise<void>((resolve, reject) => {
    t.once('secureConnect', resolve);
    t.once('error', reject);
  });
  t.write('EHLO client.example\r\n');
  await reply(t);
  const res: StarttlsResult = {
    reused: t.isSessionReused(),
    session: t.getSession(),
    fingerprint: t.getPeerCertificate().fingerprint256,
    protocol: t.getProtocol(),
  };
  t.write('QUIT\r\n');
  await reply(t).catch(() => '');
  t.destroy();
  return res;
}

export const CHILD_SCRIPT = fileURLToPath(new URL('./smtpd-child.js', import.meta.url));

/** A forked smtpd service process; resolves with its port. */
export async function forkSmtpd(params: Record<string, string>): Promise<{ child: ChildProcess; port: number }> {
  const child = fork(CHILD_SCRIPT, [], { env: { ...process.env, TLSMGR_TEST_SMTPD: JSON.stringify(params) }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (m: { port: number }) => resolve(m.port));
    child.once('exit', (code) => reject(new Error(`smtpd child exited ${code}`)));
  });
  return { child, port };
}

export const tempDir = (tag: string) => mkdtempSync(join(tmpdir(), `postern-${tag}-`));
