/**
 * The contract binding: a contract a service uses is bound to its IPC client
 * when the providing service runs elsewhere, and to the local object when
 * both run in one process (startServicesInProcess): then a call crosses no
 * socket. Real unix sockets under a temporary queue_directory.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createConfigView,
  inject,
  injectable,
  masterEntry,
  MemoryLogger,
  ParameterRegistry,
  parseMainCf,
  REWRITE,
  SERVICE,
  SERVICE_CLIENTS,
  serveRewrite,
  servicePath,
  startServiceInProcess,
  startServicesInProcess,
  type ResolveResult,
  type RewriteContext,
  type RewriteService,
  type ServiceClients,
  type ServiceMain,
} from '@postern/core';

class CountingRewrite implements RewriteService {
  calls = 0;
  async rewrite(_context: RewriteContext, address: string): Promise<string> {
    this.calls++;
    return address.includes('@') ? address : `${address}@example.test`;
  }
  async resolve(address: string): Promise<ResolveResult> {
    this.calls++;
    return { transport: 'smtp', nexthop: 'example.test', recipient: address, flags: [] } as unknown as ResolveResult;
  }
}

@injectable()
class Consumer {
  constructor(
    @inject(REWRITE) readonly rewrite: RewriteService,
    @inject(SERVICE_CLIENTS) readonly clients: ServiceClients,
  ) {}
}

/** A service that uses trivial-rewrite: its instance exposes what its container gave it. */
let consumer: Consumer | undefined;
const consumerMain: ServiceMain = async (ctx) => {
  consumer = ctx.container.resolve(Consumer);
  return { stop: async () => undefined };
};

/** trivial-rewrite's endpoint, counting the connections made to it. */
function countingProvider(impl: RewriteService, counter: { connections: number }): ServiceMain {
  return async (ctx) => {
    const served = serveRewrite(ctx, impl);
    ctx.onConnection((s) => {
      counter.connections++;
      served.server.accept(s);
    });
    return served;
  };
}

function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'postern-cohost-'));
  mkdirSync(join(dir, 'private'));
  const config = createConfigView({
    registry: ParameterRegistry.withCore(),
    configDirectory: dir,
    mainCf: parseMainCf(`queue_directory = ${dir}\n`),
  });
  return { dir, config, log: new MemoryLogger() };
}

test('two services in one process: the used contract is the provider itself, no socket is crossed', async () => {
  const { dir, config, log } = setup();
  const impl = new CountingRewrite();
  const counter = { connections: 0 };
  const provider = countingProvider(impl, counter);
  const services = await startServicesInProcess(
    [
      { main: provider, entry: masterEntry({ name: SERVICE.REWRITE, command: 'trivial-rewrite' }), listen: { path: servicePath(config, SERVICE.REWRITE) } },
      { main: consumerMain, entry: masterEntry({ name: 'user', command: 'user' }), uses: [SERVICE.REWRITE], listen: { path: join(dir, 'user') } },
    ],
    { config, log },
  );
  try {
    assert.equal(consumer!.rewrite, impl, 'bound to the local object');
    assert.equal(await consumer!.rewrite.rewrite('local', 'alice'), 'alice@example.test');
    assert.equal(impl.calls, 1);
    assert.equal(counter.connections, 0, 'nothing connected to the provider socket');
    assert.equal(consumer!.clients.opened, 0, 'no client connection opened');
  } finally {
    await services.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the same service on its own: the contract is bound to the client, the call crosses the socket', async () => {
  const { dir, config, log } = setup();
  const impl = new CountingRewrite();
  const counter = { connections: 0 };
  const provider = await startServiceInProcess(countingProvider(impl, counter), {
    entry: masterEntry({ name: SERVICE.REWRITE, command: 'trivial-rewrite' }), config, log, listen: { path: servicePath(config, SERVICE.REWRITE) },
  });
  const user = await startServiceInProcess(consumerMain, {
    entry: masterEntry({ name: 'user', command: 'user' }),
    config,
    log,
    uses: [SERVICE.REWRITE],
    listen: { path: join(dir, 'user') },
  });
  try {
    assert.notEqual(consumer!.rewrite, impl);
    assert.equal(await consumer!.rewrite.rewrite('local', 'bob'), 'bob@example.test');
    assert.equal(impl.calls, 1);
    assert.equal(counter.connections, 1, 'one connection to the provider socket');
    assert.equal(consumer!.clients.opened, 1);
  } finally {
    await user.stop();
    await provider.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
