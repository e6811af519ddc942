/**
 * local(8) details an administrator sees when comparing with Postfix:
 * .forward comments and loops, the group of a new spool mailbox, the mode
 * of /file destinations and a command's environment.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, chown, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { deliveryAgent, type BounceService, type QueueStore, type ServiceContext, provide, QUEUE_STORE, SERVICE, serviceContainer } from '@postern/core';
import { LOCAL_PARAMETERS } from '../src/index.js';
import { createLocalDeliver } from '../src/local.js';
import { agentContext, fixture, isRoot, MESSAGE, parseMbox, request, source, TEST_UID, type Fixture, testCleanup } from './helpers.js';

const fixtures: Fixture[] = [];
after(async () => {
  for (const f of fixtures) await f.cleanupDone();
});

async function setup(params: Record<string, string> = {}) {
  const f = await fixture(['alice', 'bob', 'carol'], LOCAL_PARAMETERS, '@postern/plugin-local');
  fixtures.push(f);
  const config = f.config(params);
  const deliver = createLocalDeliver({ config, tables: f.tables(), log: f.log, cleanup: testCleanup(config) });
  const run = (rcpts: Parameters<typeof request>[0], content: string | Buffer = MESSAGE) =>
    deliver(request(rcpts), source(content), agentContext(config, f.log));
  return { f, run };
}

test('.forward: a trailing "# comment" is not a destination (forward(5))', async () => {
  const { f, run } = await setup();
  await writeFile(join(f.home('alice'), '.forward'), '\\alice   # keep a copy here\n');
  const r = await run(['alice@example.com']);
  assert.deepEqual([r[0]!.status, r[0]!.reason], ['sent', 'delivered to mailbox']);
  assert.equal(parseMbox(await readFile(join(f.spool, 'alice'), 'utf8')).length, 1);
});

test('mutually forwarding users: the first hop is a new message with Delivered-To:, the way back bounces 5.4.6', async () => {
  const { f, run } = await setup();
  const cleanup = await f.cleanup();
  try {
    await writeFile(join(f.home('alice'), '.forward'), 'bob\n');
    await writeFile(join(f.home('bob'), '.forward'), 'alice@example.com\n');
    const first = await run(['alice@example.com']);
    assert.deepEqual([first[0]!.status, first[0]!.reason], ['sent', 'forwarded as FWD1']);
    const hop = cleanup.submissions[0]!;
    assert.deepEqual(hop.request.recipients.map((x) => x.address), ['bob@example.com']);
    assert.ok(hop.content.startsWith('Delivered-To: alice@example.com\n'));
    const second = await run(['bob@example.com'], hop.content);
    assert.deepEqual([second[0]!.status, second[0]!.dsn, second[0]!.reason], ['bounced', '5.4.6', 'mail forwarding loop for alice@example.com']);
    assert.equal(cleanup.submissions.length, 1);
    await assert.rejects(stat(join(f.spool, 'alice')), 'no mailbox got the looping message');
    await assert.rejects(stat(join(f.spool, 'bob')));
  } finally {
    await cleanup.stop();
  }
});

test('a new mailbox in a group-writable spool directory gets the directory\'s group', { skip: !isRoot && 'needs root' }, async () => {
  const { f, run } = await setup();
  const spoolGid = 8; // Debian's "mail" group id; any group other than the user's will do
  await chown(f.spool, 0, spoolGid);
  await chmod(f.spool, 0o2775);
  await run(['alice@example.com']);
  const st = await stat(join(f.spool, 'alice'));
  assert.deepEqual([st.uid, st.gid, st.mode & 0o7777], [TEST_UID, spoolGid, 0o600]);
});

test('/file destinations are created 0600', async () => {
  const { f } = await setup();
  const file = join(f.dir, 'saved');
  const spec = await f.aliases(`save: ${file}\n`);
  const config = f.config({ alias_maps: spec });
  const deliver = createLocalDeliver({ config, tables: f.tables(), log: f.log, cleanup: testCleanup(config) });
  const r = await deliver(request(['save@example.com']), source(MESSAGE), agentContext(config, f.log));
  assert.equal(r[0]!.status, 'sent');
  assert.equal((await stat(file)).mode & 0o777, 0o600);
});

function parseEnv(text: string): Map<string, string> {
  return new Map(text.trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as const));
}

test('a command\'s environment is local(8)\'s: no empty EXTENSION, no HOME or SHELL without an account', async () => {
  const { f } = await setup({ recipient_delimiter: '+' });
  const root = join(f.dir, 'root-env');
  const user = join(f.dir, 'user-env');
  const spec = await f.aliases(`envdump: "|/usr/bin/env > ${root}"\n`);
  await writeFile(join(f.home('bob'), '.forward'), `"|/usr/bin/env > ${user}"\n`);
  const config = f.config({ alias_maps: spec, recipient_delimiter: '+' });
  const deliver = createLocalDeliver({ config, tables: f.tables(), log: f.log, cleanup: testCleanup(config) });
  const r = await deliver(request(['envdump@example.com', 'bob+tag@example.com']), source(MESSAGE), agentContext(config, f.log));
  assert.deepEqual(r.map((x) => x.status), ['sent', 'sent']);
  const a = parseEnv(await readFile(root, 'utf8'));
  assert.equal(a.get('RECIPIENT'), 'envdump@example.com');
  for (const k of ['EXTENSION', 'HOME', 'SHELL']) assert.ok(!a.has(k), `${k} not exported for a root-owned alias: ${a.get(k)}`);
  const b = parseEnv(await readFile(user, 'utf8'));
  assert.equal(b.get('EXTENSION'), 'tag');
  assert.equal(b.get('HOME'), f.home('bob'));
  assert.equal(b.get('SHELL'), '/bin/sh');
  assert.equal(b.get('USER'), 'bob');
});

test('soft_bounce = yes: an unknown user is deferred with 4.1.1, not bounced (core delivery skeleton)', async () => {
  const f = await fixture(['alice'], LOCAL_PARAMETERS, '@postern/plugin-local');
  fixtures.push(f);
  const config = f.config({ soft_bounce: 'yes' });
  const appended: string[] = [];
  const store = { readContent: async function* () { yield Buffer.from(MESSAGE); } } as unknown as QueueStore;
  const bounce: BounceService = {
    async append(log, _id, record) { appended.push(`${log} ${record.recipient} ${record.status}`); },
    async notify() { return { queueId: '' } as never; },
  };
  const { container } = serviceContainer(config, f.log, { [SERVICE.BOUNCE]: bounce });
  provide(container, QUEUE_STORE, store);
  const ctx = {
    entry: { name: 'local' }, config, log: f.log, container,
    onConnection() {}, onTrigger() {}, signal: new AbortController().signal,
  } as unknown as ServiceContext;
  const agent = deliveryAgent(ctx, createLocalDeliver({ config, tables: f.tables(), log: f.log, cleanup: testCleanup(config) }), { relay: 'local' });
  const res = await agent.deliver(request(['ghost@example.com']));
  assert.deepEqual(res.results.map((x) => [x.status, x.dsn]), [['deferred', '4.1.1']]);
  assert.deepEqual(appended, ['defer ghost@example.com 4.1.1']);
  assert.ok(f.log.lines.some((l) => /to=<ghost@example\.com>.*dsn=4\.1\.1, status=deferred \(unknown user: "ghost"\)/.test(l)), f.log.lines.join('\n'));
});
