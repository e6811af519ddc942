/**
 * dnsblog(8) served on a real unix socket, asked through its contract's
 * remote stub, looking names up on a real DNS server (dnsmasq on a loopback
 * port).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createConfigView,
  IpcClient,
  masterEntry,
  MemoryLogger,
  ParameterRegistry,
  RemoteDnsblog,
  startServiceInProcess,
  type InProcessService,
} from '@postern/core';
import { DNSMASQ, startTestDns, type TestDns } from '@postern/dns';
import { PARAMETERS } from '../src/dnsblog-params.js';
import { main } from '../src/dnsblog.js';

describe('dnsblog', { skip: DNSMASQ ? false : 'dnsmasq is not installed' }, () => {
  let dns: TestDns;
  let dir: string;
  let svc: InProcessService;
  let ipc: IpcClient;
  const log = new MemoryLogger();

  before(async () => {
    dns = await startTestDns({ zones: ['bl.test'], hosts: { '2.0.0.127.bl.test': ['127.0.0.2'], '9.0.0.127.bl.test': ['127.0.0.4', '127.0.0.10'] }, ttl: 90 });
    dir = mkdtempSync(join(tmpdir(), 'postern-dnsblog-'));
    const registry = ParameterRegistry.withCore();
    registry.declare('@postern/plugin-dnsblog', PARAMETERS);
    const config = createConfigView({
      registry,
      configDirectory: dir,
      mainCf: [{ kind: 'param', name: 'postern_dns_servers', value: dns.server, file: 'main.cf', line: 1, endLine: 1 }] as never,
    });
    svc = await startServiceInProcess(main, { entry: masterEntry({ name: 'dnsblog', command: 'dnsblog' }), config, log, listen: { path: join(dir, 'dnsblog') } });
    ipc = new IpcClient('dnsblog', join(dir, 'dnsblog'));
  });
  after(async () => {
    ipc.close();
    await svc.stop();
    await dns.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('a listed address: its records, the TTL, and the log line', async () => {
    const r = await new RemoteDnsblog(ipc).query('bl.test', '127.0.0.9', 7);
    assert.equal(r.id, 7);
    assert.deepEqual(r.result.split(' ').sort(), ['127.0.0.10', '127.0.0.4']);
    assert.equal(r.ttl, 90);
    assert.ok(log.lines.includes('addr 127.0.0.9 listed by domain bl.test as 127.0.0.4'), log.lines.join('\n'));
  });

  test('an unlisted address: empty result, ttl -1, nothing logged', async () => {
    const before = log.lines.length;
    assert.deepEqual(await new RemoteDnsblog(ipc).query('bl.test', '127.0.0.3', 8), { domain: 'bl.test', address: '127.0.0.3', id: 8, result: '', ttl: -1 });
    assert.equal(log.lines.length, before);
  });

  test('dnsblog unreachable: the stub answers not listed', async () => {
    const gone = new IpcClient('dnsblog', join(dir, 'no-such-socket'));
    try {
      assert.deepEqual(await new RemoteDnsblog(gone).query('bl.test', '127.0.0.2', 1), { domain: 'bl.test', address: '127.0.0.2', id: 1, result: '', ttl: -1 });
    } finally {
      gone.close();
    }
  });
});
