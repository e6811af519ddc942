import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createConfigView, IpcClient, ParameterRegistry, provide, QUEUE_STORE, RemoteCleanup, serveRewrite, startServiceInProcess, TABLES, type CleanupRequest, type CleanupResult, type ConfigView, type MasterEntry, type QueueStore, type ResolveResult, type RewriteService, type ServiceMain, type ServiceClients } from '@postern/core';
import { createTableRegistry } from '@postern/tables';
import { openQueueStore } from '@postern/queue-lmdb';
import { masterEntry } from '@postern/core';
import { container } from 'tsyringe';
import { CLEANUP_PARAMETERS } from '../src/index.js';
import { main } from '../src/cleanup.js';
import { MemoryLogger as MemoryLog } from '@postern/core';

/** The service connections this test opens (each closed by closeClients()). */
const openClients: ServiceClients[] = [];
const closeClients = (): void => openClients.splice(0).forEach((c) => c.close());

/** A logger that keeps what it is given. */
export { MemoryLogger as MemoryLog } from '@postern/core';

const entry = (name: string, command: string): MasterEntry => masterEntry({ name, private: false, command });

/**
 * A small trivial-rewrite stand-in served over the real IPC socket
 * (queue_directory/private/rewrite): appends @$myorigin to bare local parts
 * and calls $mydestination domains local. The real one lives in another
 * package, which a plugin's tests must not import.
 */
function rewriteStandIn(config: ConfigView): RewriteService {
  const local = new Set(config.list('mydestination').map((d) => d.toLowerCase()));
  return {
    async rewrite(_context, address) {
      if (address === '' || address.includes('@')) return address;
      return `${address}@${config.get('myorigin')}`;
    },
    async resolve(address): Promise<ResolveResult> {
      const domain = address.slice(address.lastIndexOf('@') + 1).toLowerCase();
      const isLocal = local.has(domain);
      return {
        transport: isLocal ? 'local' : 'smtp',
        nexthop: domain,
        recipient: address,
        class: isLocal ? 'local' : 'default',
        flags: isLocal ? ['final'] : [],
      };
    },
  };
}

export interface Harness {
  readonly dir: string;
  readonly store: QueueStore;
  readonly log: MemoryLog;
  /** Bytes received at queue_directory/public/qmgr. */
  readonly triggers: () => string;
  /** Waits until `bytes` has arrived at the qmgr socket. */
  waitTrigger(bytes: string): Promise<void>;
  submit(request: Partial<CleanupRequest>, content: string | string[], onId?: (id: string) => void): Promise<CleanupResult>;
  content(id: string): Promise<string>;
  /** Messages in incoming + hold. */
  queued(): Promise<number>;
}

export const BASE: Readonly<Record<string, string>> = {
  myhostname: 'mail.example.com',
  mydomain: 'example.com',
  myorigin: 'example.com',
  mydestination: 'mail.example.com, localhost',
  inet_interfaces: '127.0.0.1',
  mynetworks: '127.0.0.0/8, 10.0.0.0/8',
  compatibility_level: '3.6',
};

export async function withCleanup(
  settings: Readonly<Record<string, string>>,
  files: Readonly<Record<string, string>>,
  fn: (h: Harness) => Promise<void>,
): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'postern-cleanup-'));
  mkdirSync(join(dir, 'public'));
  mkdirSync(join(dir, 'private'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  const registry = ParameterRegistry.withCore();
  registry.declare('@postern/plugin-cleanup', CLEANUP_PARAMETERS);
  const overrides = Object.fromEntries(Object.entries(settings).map(([k, v]) => [k, v.replaceAll('{dir}', dir)]));
  const config = createConfigView({ registry, configDirectory: dir, overrides: { queue_directory: dir, ...BASE, ...overrides } });
  const log = new MemoryLog();
  const store = openQueueStore({ queueDirectory: dir, log });
  const parent = container.createChildContainer();
  provide(parent, TABLES, createTableRegistry({ log }));
  provide(parent, QUEUE_STORE, store);

  let received = '';
  const waiters: (() => void)[] = [];
  const qmgr: Server = createServer((s) =>
    s.on('data', (d) => {
      received += d.toString();
      waiters.splice(0).forEach((w) => w());
    }),
  );
  await new Promise<void>((r) => qmgr.listen(join(dir, 'public', 'qmgr'), r));

  const rewriteMain: ServiceMain = async (ctx) => serveRewrite(ctx, rewriteStandIn(ctx.config));
  const rewrite = await startServiceInProcess(rewriteMain, {
    entry: entry('rewrite', 'trivial-rewrite'),
    config,
    log,
    container: parent,
    listen: { path: join(dir, 'private', 'rewrite') },
  });
  const cleanupPath = join(dir, 'public', 'cleanup');
  const cleanup = await startServiceInProcess(main, { entry: entry('cleanup', 'cleanup'), config, log, container: parent, listen: { path: cleanupPath } });
  const ipc = new IpcClient('cleanup', cleanupPath);
  const client = new RemoteCleanup(ipc);

  const h: Harness = {
    dir,
    store,
    log,
    triggers: () => received,
    waitTrigger: (bytes) =>
      new Promise<void>((resolve) => {
        const check = () => (received.includes(bytes) ? resolve() : waiters.push(check));
        check();
      }),
    async submit(request, content, onId) {
      const chunks = (Array.isArray(content) ? content : [content]).map((c) => Buffer.from(c));
      async function* body() {
        for (const c of chunks) yield c;
      }
      return client.submit(
        { sender: 'sender@example.com', recipients: [{ address: 'rcpt@example.org' }], origin: 'smtpd', ...request },
        body(),
        onId,
      );
    },
    async content(id) {
      const parts: Buffer[] = [];
      for await (const c of store.readContent(id)) parts.push(c);
      return Buffer.concat(parts).toString();
    },
    async queued() {
      return (await store.count('incoming')) + (await store.count('hold'));
    },
  };
  try {
    await fn(h);
  } finally {
    ipc.close();
    closeClients();
    await cleanup.stop();
    await rewrite.stop();
    await new Promise<void>((r) => qmgr.close(() => r()));
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** An SMTP client from outside (not in mynetworks, not one of our interfaces). */
export const REMOTE_CLIENT = { name: 'client.example', address: '192.0.2.1', helo: 'client.example', protocol: 'ESMTP' };
/** An SMTP client in mynetworks. */
export const TRUSTED_CLIENT = { name: 'trusted.example', address: '10.1.2.3', helo: 'trusted.example', protocol: 'ESMTP' };
