import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createConfigView, parseMainCf, ParameterRegistry, type AgentContext, type DeliveryRequest, type Logger, type MessageSource } from '@postern/core';
import { createTableRegistry } from '@postern/tables';
import { createVirtualDeliver, safeMailboxPath, VIRTUAL_PARAMETERS } from '../src/index.js';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const UID = isRoot ? 65534 : process.getuid!();
const GID = isRoot ? 65534 : process.getgid!();
const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const warnings: string[] = [];
const log: Logger = {
  info() {}, warn: (t) => void warnings.push(t), error() {}, fatal() {}, panic() {}, debug() {}, verbose: false,
  child() { return log; },
};

async function setup(params: Record<string, string> = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'postern-virtual-'));
  dirs.push(dir);
  const base = join(dir, 'vmail');
  await mkdir(join(base, 'example.org'), { recursive: true });
  for (const d of [dir, base, join(base, 'example.org')]) await chmod(d, 0o777);
  const maps = join(dir, 'vmailbox');
  await writeFile(maps, ['alice@example.org example.org/alice', 'bob@example.org example.org/bob/', '@catchall.example example.org/catchall', 'evil@example.org ../escape'].join('\n') + '\n');
  const reg = ParameterRegistry.withCore();
  reg.declare('@postern/plugin-virtual', VIRTUAL_PARAMETERS);
  const text = Object.entries({
    queue_directory: dir,
    virtual_mailbox_base: base,
    virtual_mailbox_maps: `texthash:${maps}`,
    virtual_uid_maps: `static:${UID}`,
    virtual_gid_maps: `static:${GID}`,
    virtual_minimum_uid: String(Math.min(UID, 100)),
    deliver_lock_attempts: '1',
    ...params,
  })
    .map(([k, v]) => `${k} = ${v}`)
    .join('\n');
  const config = createConfigView({ mainCf: parseMainCf(text), registry: reg, configDirectory: dir });
  const deliver = createVirtualDeliver({ config, tables: createTableRegistry(), log });
  return { dir, base, config, deliver };
}

const req = (recipients: readonly string[], sender = 'sender@remote.example'): DeliveryRequest => ({
  queueId: 'VQ1', queueName: 'active', transport: 'virtual', nexthop: 'example.org', sender,
  recipients: recipients.map((address, index) => ({ index, address })), arrivalTime: Date.now(), size: 50,
});
const src = (text: string): MessageSource => ({
  queueId: 'VQ1', size: text.length,
  async *stream() { yield Buffer.from(text); },
  buffer: async () => Buffer.from(text),
});
const agent = (config: AgentContext['config']): AgentContext => ({
  service: 'virtual', config, log, signal: new AbortController().signal, connected() {}, destinationDown() {},
});
const MESSAGE = 'Subject: v\r\n\r\nFrom me\r\nbye\r\n';

test('mbox and Maildir by the trailing "/", catch-all @domain, headers, ownership', async () => {
  const { base, config, deliver } = await setup();
  const r = await deliver(req(['Alice@example.org', 'bob@example.org', 'anyone@catchall.example']), src(MESSAGE), agent(config));
  assert.deepEqual(r.map((x) => [x.status, x.reason, x.relay]), [
    ['sent', 'delivered to mailbox', 'virtual'],
    ['sent', 'delivered to maildir', 'virtual'],
    ['sent', 'delivered to mailbox', 'virtual'],
  ]);
  const mbox = await readFile(join(base, 'example.org', 'alice'), 'utf8');
  assert.match(mbox, /^From sender@remote\.example .+\nReturn-Path: <sender@remote\.example>\nX-Original-To: Alice@example\.org\nDelivered-To: Alice@example\.org\nSubject: v\n\n>From me\nbye\n\n$/);
  const st = await stat(join(base, 'example.org', 'alice'));
  assert.deepEqual([st.uid, st.mode & 0o777], [UID, 0o600]);
  const names = await readdir(join(base, 'example.org', 'bob', 'new'));
  assert.equal(names.length, 1);
  assert.deepEqual(await readdir(join(base, 'example.org', 'bob', 'tmp')), []);
  const md = await readFile(join(base, 'example.org', 'bob', 'new', names[0]!), 'utf8');
  assert.equal(md, 'Return-Path: <sender@remote.example>\nX-Original-To: bob@example.org\nDelivered-To: bob@example.org\nSubject: v\n\nFrom me\nbye\n');
  assert.ok((await readFile(join(base, 'example.org', 'catchall'), 'utf8')).includes('Delivered-To: anyone@catchall.example'));
});

test('unknown user bounces, loop bounces, uid below virtual_minimum_uid and bad paths defer', async () => {
  const { config, deliver } = await setup();
  const r = await deliver(req(['nobody@example.org', 'alice@example.org', 'evil@example.org']), src('Delivered-To: alice@example.org\r\n\r\nx\r\n'), agent(config));
  assert.deepEqual(r.map((x) => [x.status, x.dsn, x.reason]), [
    ['bounced', '5.1.1', 'unknown user: "nobody@example.org"'],
    ['bounced', '5.4.6', 'mail forwarding loop for alice@example.org'],
    ['deferred', '4.3.5', 'mail system configuration error'],
  ]);
  const strict = await setup({ virtual_minimum_uid: String(UID + 1) });
  const r2 = await strict.deliver(req(['alice@example.org']), src(MESSAGE), agent(strict.config));
  assert.deepEqual([r2[0]!.status, r2[0]!.dsn], ['deferred', '4.3.5']);
  assert.ok(warnings.some((w) => /below virtual_minimum_uid/.test(w)));
  assert.equal(safeMailboxPath('/b', 'd/../../x'), undefined);
  assert.equal(safeMailboxPath('/b', '/abs'), undefined);
  assert.equal(safeMailboxPath('/b', 'd/u/'), '/b/d/u/');
});

test('virtual_mailbox_limit bounces 5.2.2 and truncates; a held dotlock defers', async () => {
  const { base, config, deliver } = await setup({ virtual_mailbox_limit: '200', virtual_mailbox_lock: 'dotlock' });
  const box = join(base, 'example.org', 'alice');
  await writeFile(box, 'x'.repeat(150));
  await chmod(box, 0o600);
  if (isRoot) await import('node:fs/promises').then((fs) => fs.chown(box, UID, GID));
  const r = await deliver(req(['alice@example.org']), src(MESSAGE), agent(config));
  assert.deepEqual([r[0]!.status, r[0]!.dsn], ['bounced', '5.2.2']);
  assert.equal((await stat(box)).size, 150);
  await writeFile(`${box}.lock`, '');
  const big = await setup({ virtual_mailbox_lock: 'dotlock' });
  const box2 = join(big.base, 'example.org', 'alice');
  await writeFile(`${box2}.lock`, '');
  const r2 = await big.deliver(req(['alice@example.org']), src(MESSAGE), agent(big.config));
  assert.deepEqual([r2[0]!.status, r2[0]!.dsn], ['deferred', '4.2.0']);
});

test('mailbox worker process: same result as in-process delivery', async () => {
  const { deliverMailbox } = await import('@postern/mailbox');
  const dir = await mkdtemp(join(tmpdir(), 'postern-worker-'));
  dirs.push(dir);
  await chmod(dir, 0o777);
  const r = await deliverMailbox(join(dir, 'box'), [Buffer.from(MESSAGE)], { from: '', returnPath: '', quoteFrom: true, blank: true }, {
    forceWorker: true,
    lock: ['fcntl', 'dotlock'],
    runAs: { uid: UID, gid: GID },
  });
  assert.deepEqual([r.status, r.reason], ['sent', 'delivered to mailbox']);
  const text = await readFile(join(dir, 'box'), 'utf8');
  assert.match(text, /^From MAILER-DAEMON .+\nReturn-Path: <>\nSubject: v\n\n>From me\nbye\n\n$/);
  assert.equal((await stat(join(dir, 'box'))).uid, UID);
});
