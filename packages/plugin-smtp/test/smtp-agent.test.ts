/**
 * smtp(8) as a service: the entry (main) under core's delivery agent
 * skeleton, called the way qmgr calls it, with NAME_RESOLVER and TABLES
 * from the service's container and the delivery lines checked as Postfix
 * writes them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clientParameters } from '@postern/smtp-client';
import { createConfigView, deliveryClient, NAME_RESOLVER, ParameterRegistry, parseMainCf, provide, SERVICE, serveBounce, startServiceInProcess, TABLES, type DeliveryLogRecord, type MasterEntry, ServiceClients, type ConfigView } from '@postern/core';
import { createTableRegistry } from '@postern/tables';
import { masterEntry } from '@postern/core';
import { container as rootContainer } from 'tsyringe';
import { main as smtpMain } from '../src/smtp.js';
import { plugin } from '../src/index.js';
import { local, smtpError, TestLog, testResolver, testServer } from '@postern/testkit';

/** The service connections this test opens (each closed by closeClients()). */
const openClients: ServiceClients[] = [];
const clientsOf = (config: ConfigView): ServiceClients => {
  const c = new ServiceClients(config);
  openClients.push(c);
  return c;
};
const closeClients = (): void => openClients.splice(0).forEach((c) => c.close());

const entry = (name: string, command = name): MasterEntry => masterEntry({ name, command });

test('plugin manifest: command smtp, Postfix defaults for the parameters', () => {
  assert.ok(plugin.commands.smtp);
  const p = new Map(plugin.parameters!.map((x) => [x.name, x.default]));
  assert.equal(p.get('smtp_connect_timeout'), '30s');
  assert.equal(p.get('smtp_data_done_timeout'), '600s');
  assert.equal(p.get('smtp_helo_name'), '$myhostname');
  assert.equal(p.get('smtp_connection_cache_time_limit'), '2s');
  assert.equal(p.get('smtp_sasl_security_options'), 'noplaintext, noanonymous');
  assert.equal(p.get('smtp_tls_secure_cert_match'), 'nexthop, dot-nexthop');
  assert.deepEqual(clientParameters('lmtp').find((x) => x.name === 'lmtp_tcp_port')?.default, '24');
});

test('smtp service: relay service delivers, logs relay=host[addr]:port, records bounces, reuses the connection', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'postern-smtp-agent-'));
  const q = join(dir, 'q');
  mkdirSync(join(q, 'private'), { recursive: true });
  const srv = await testServer({ rcpt: (a) => (a.startsWith('bad') ? smtpError(550, '5.1.1 <' + a + '>: unknown user') : undefined) });
  const registry = ParameterRegistry.withCore();
  registry.declare('@postern/plugin-smtp', clientParameters('smtp'));
  const config = createConfigView({ registry, configDirectory: dir, mainCf: parseMainCf(`queue_directory = ${q}\nmyhostname = client.test\n`) });
  const log = new TestLog();
  const appends: { log: string; record: DeliveryLogRecord }[] = [];
  const parent = rootContainer.createChildContainer();
  provide(parent, NAME_RESOLVER, testResolver({}, { 'dest.test': local(srv.port) }));
  provide(parent, TABLES, createTableRegistry({}));
  const content = Buffer.from('Subject: hi\n\nbody\n');
  const store = {
    async *readContent() {
      yield content;
    },
  };
  const services = [
    await startServiceInProcess(async (ctx) => serveBounce(ctx, { append: async (l, _id, record) => void appends.push({ log: l, record }), notify: async () => ({ count: 0 }) }), {
      entry: entry(SERVICE.BOUNCE), config, log, listen: { path: join(q, 'private', SERVICE.BOUNCE) },
    }),
  ];
  const { QUEUE_STORE } = await import('@postern/core');
  provide(parent, QUEUE_STORE, store as never);
  services.push(await startServiceInProcess(smtpMain, { entry: entry(SERVICE.RELAY, 'smtp'), config, log, container: parent, listen: { path: join(q, 'private', SERVICE.RELAY) } }));
  try {
    const request = (id: string, rcpts: string[]) => ({
      queueId: id, queueName: 'active', transport: SERVICE.RELAY, nexthop: 'dest.test', sender: 's@origin.test',
      recipients: rcpts.map((address, index) => ({ index, address })), arrivalTime: Date.now(), size: content.length,
    });
    const a = await deliveryClient(clientsOf(config), SERVICE.RELAY).deliver(request('1AAAAA', ['good@dest.test', 'bad@dest.test']));
    assert.deepEqual(a.results.map((r) => r.status), ['sent', 'bounced']);
    const b = await deliveryClient(clientsOf(config), SERVICE.RELAY).deliver(request('2BBBBB', ['good@dest.test']));
    assert.equal(b.results[0]!.status, 'sent');
    const relay = `dest.test[127.0.0.1]:${srv.port}`;
    const sent = log.lines.find((l) => l.startsWith('1AAAAA: to=<good@dest.test>'))!;
    assert.match(sent, new RegExp(`^1AAAAA: to=<good@dest\\.test>, relay=${relay.replace(/[.[\]]/g, '\\$&')}, delay=[\\d.]+, delays=[\\d./]+, dsn=2\\.0\\.0, status=sent \\(250 Ok: queued as TESTID\\)$`));
    const bounced = log.lines.find((l) => l.startsWith('1AAAAA: to=<bad@dest.test>'))!;
    assert.match(bounced, /dsn=5\.1\.1, status=bounced \(host dest\.test\[127\.0\.0\.1\] said: 550 5\.1\.1 <bad@dest\.test>: unknown user \(in reply to RCPT TO command\)\)$/);
    assert.deepEqual(appends.map((x) => [x.log, x.record.recipient, x.record.diagnostic, x.record.remoteMta]), [
      ['bounce', 'bad@dest.test', 'smtp; 550 5.1.1 <bad@dest.test>: unknown user', 'dns; dest.test'],
    ]);
    assert.equal(srv.connections, 1);
    const stats = (services[1]!.instance as unknown as { stats(): unknown }).stats();
    assert.deepEqual(stats, { connections: 1, transactions: 2, reused: 1 });
  } finally {
    closeClients();
    for (const s of services.reverse()) await s.stop();
    await srv.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
