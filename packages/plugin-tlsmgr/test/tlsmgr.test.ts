import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tlsSessionCache } from '@postern/smtp-client';
import { ServiceClients, type ConfigView } from '@postern/core';
import { startStarttlsServer } from '@postern/testkit';
import { createTlsManager, main as tlsmgrMain } from '../src/tlsmgr.js';
import { cacheDatabasePath } from '../src/tlsmgr-store.js';
import { CaptureLog, forkSmtpd, makeCert, makeConfig, starttls, startUnixService, tempDir } from './tls-rig.js';

const dirs: string[] = [];
const dir = (tag: string) => {
  const d = tempDir(tag);
  dirs.push(d);
  return d;
};
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A STARTTLS server that shares its ticket key through tlsmgr as smtpd does (@postern/testkit). */
function smtpd(config: ConfigView, certFile: string, keyFile: string, log = new CaptureLog()) {
  return startStarttlsServer({ config, certFile, keyFile, log });
}

for (const db of ['', 'btree:smtp_scache']) {
  test(`session cache keeps entries for the timeout, then forgets them (database "${db}")`, async () => {
    const d = dir('tlsmgr-store');
    let now = 1_000_000;
    const config = makeConfig(d, { smtp_tls_session_cache_database: db, smtp_tls_session_cache_timeout: '60s', smtpd_tls_session_cache_timeout: '100s' });
    const mgr = createTlsManager(config, () => now);
    try {
      await mgr.update({ type: 'smtp', id: 'mx[192.0.2.1]:25', session: Buffer.from('abc').toString('base64') });
      assert.equal((await mgr.lookup({ type: 'smtp', id: 'mx[192.0.2.1]:25' })).session, Buffer.from('abc').toString('base64'));
      assert.deepEqual(await mgr.lookup({ type: 'smtpd', id: 'mx[192.0.2.1]:25' }), {});
      if (db) assert.ok(existsSync(cacheDatabasePath(db, join(d, 'data'))));
      now += 59_000;
      assert.ok((await mgr.lookup({ type: 'smtp', id: 'mx[192.0.2.1]:25' })).session);
      now += 2_000;
      assert.deepEqual(await mgr.lookup({ type: 'smtp', id: 'mx[192.0.2.1]:25' }), {});
      assert.equal(await mgr.sweep(), 1);
      // ticket keys: one key for the whole smtpd_tls_session_cache_timeout, then a new one
      const k1 = (await mgr.ticketKey())!;
      assert.equal(Buffer.from(k1.keys, 'base64').length, 48);
      now += 99_000;
      assert.equal((await mgr.ticketKey())!.name, k1.name);
      now += 2_000;
      assert.notEqual((await mgr.ticketKey())!.name, k1.name);
    } finally {
      await mgr.close();
    }
  });
}

test('smtpd_tls_session_cache_timeout = 0: no ticket key is served', async () => {
  const mgr = createTlsManager(makeConfig(dir('tlsmgr-zero'), { smtpd_tls_session_cache_timeout: '0' }));
  assert.equal(await mgr.ticketKey(), null);
  await mgr.close();
});

test('a second STARTTLS session to smtpd is resumed; without tlsmgr keys two smtpd contexts cannot resume each other', async () => {
  const d = dir('tlsmgr-smtpd');
  const { cert, key } = makeCert(d, 'mx.example.com');
  // no tlsmgr running: each server has its own ticket key
  const config = makeConfig(d, {});
  const a = await smtpd(config, cert, key);
  const b = await smtpd(config, cert, key);
  try {
    for (const v of ['TLSv1.2', 'TLSv1.3'] as const) {
      const first = await starttls(a.port, undefined, v);
      assert.equal(first.reused, false);
      assert.equal((await starttls(a.port, first.session, v)).reused, true, `${v} same smtpd`);
      assert.equal((await starttls(b.port, first.session, v)).reused, false, `${v} other smtpd, own key`);
    }
  } finally {
    await a.stop();
    await b.stop();
  }
});

test('with tlsmgr, a session from one smtpd process is resumed by another smtpd process', async () => {
  const d = dir('tlsmgr-procs');
  const { cert, key } = makeCert(d, 'mx.example.com');
  const params = { queue_directory: d, data_directory: join(d, 'data'), cert, key };
  const config = makeConfig(d, { queue_directory: d, data_directory: join(d, 'data') });
  const log = new CaptureLog();
  const mgr = await startUnixService(tlsmgrMain, config, log, 'tlsmgr');
  const p1 = await forkSmtpd(params);
  const p2 = await forkSmtpd(params);
  try {
    assert.notEqual(p1.child.pid, p2.child.pid);
    for (const v of ['TLSv1.2', 'TLSv1.3'] as const) {
      const first = await starttls(p1.port, undefined, v);
      assert.equal(first.reused, false);
      const second = await starttls(p2.port, first.session, v);
      assert.equal(second.reused, true, `${v}: ticket of process 1 accepted by process 2`);
      assert.equal((await starttls(p1.port, second.session, v)).reused, true, `${v}: and back`);
    }
    assert.deepEqual(log.lines.filter((l) => l.startsWith('warning')), []);
  } finally {
    p1.child.disconnect();
    p2.child.disconnect();
    await Promise.all([p1, p2].map((p) => new Promise((r) => (p.child.exitCode !== null ? r(null) : p.child.once('exit', r)))));
    await mgr.stop();
  }
});

test('the client helper stores and finds sessions through tlsmgr, and keeps them locally without it', async () => {
  const d = dir('tlsmgr-client');
  const config = makeConfig(d, { smtp_tls_session_cache_timeout: '3600s' });
  const clients = new ServiceClients(config);
  after(() => clients.close());
  const local = tlsSessionCache(clients, 'smtp');
  assert.equal(local.shared, false);
  await local.put('h[1.2.3.4]:25', Buffer.from('x'));
  assert.deepEqual(await local.get('h[1.2.3.4]:25'), Buffer.from('x'));
  assert.equal(await local.ticketKey(), undefined);
  const mgr = await startUnixService(tlsmgrMain, config, new CaptureLog(), 'tlsmgr');
  try {
    const a = tlsSessionCache(clients, 'smtp');
    const b = tlsSessionCache(clients, 'smtp');
    assert.equal(a.shared, true);
    await a.put('h[1.2.3.4]:25', Buffer.from('shared'));
    assert.deepEqual(await b.get('h[1.2.3.4]:25'), Buffer.from('shared'));
    await b.remove('h[1.2.3.4]:25');
    assert.equal(await a.get('h[1.2.3.4]:25'), undefined);
    const k = await tlsSessionCache(clients, 'smtpd').ticketKey();
    assert.equal(Buffer.from(k!.keys, 'base64').length, 48);
  } finally {
    await mgr.stop();
  }
});

