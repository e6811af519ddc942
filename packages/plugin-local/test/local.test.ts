import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readdir, readFile, stat, writeFile, chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { deliveryAgent, type BounceService, type QueueStore, type ServiceContext, provide, QUEUE_STORE, SERVICE, serviceContainer } from '@postern/core';
import { kernelLock } from '@postern/mailbox';
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
  const make = (more: Record<string, string> = {}) => {
    const config = f.config({ ...params, ...more });
    return { config, deliver: createLocalDeliver({ config, tables: f.tables(), log: f.log, cleanup: testCleanup(config) }) };
  };
  return { f, make };
}

async function run(deliver: ReturnType<typeof createLocalDeliver>, f: Fixture, config: ReturnType<Fixture['config']>, rcpts: Parameters<typeof request>[0], content = MESSAGE, sender?: string) {
  return deliver(request(rcpts, sender), source(content), agentContext(config, f.log));
}

test('mbox delivery: From_ line, Return-Path, X-Original-To, Delivered-To, From_ quoting, trailing blank line', async () => {
  const { f, make } = await setup();
  const { config, deliver } = make();
  const r1 = await run(deliver, f, config, [{ address: 'alice@example.com', original: 'Alice@Example.COM' }]);
  assert.deepEqual(r1.map((r) => [r.status, r.dsn, r.reason]), [['sent', '2.0.0', 'delivered to mailbox']]);
  const r2 = await run(deliver, f, config, ['alice@example.com'], MESSAGE, '');
  assert.equal(r2[0]!.status, 'sent');
  const text = await readFile(join(f.spool, 'alice'), 'utf8');
  assert.ok(text.endsWith('last line\n\n'), 'an empty line ends each message');
  assert.ok(!text.includes('\r'), 'CRLF becomes LF');
  const msgs = parseMbox(text);
  assert.equal(msgs.length, 2);
  assert.match(msgs[0]!.fromLine, /^From sender@remote\.example  (Sun|Mon|Tue|Wed|Thu|Fri|Sat) [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4}$/);
  assert.deepEqual(msgs[0]!.headers.slice(0, 3), [
    'Return-Path: <sender@remote.example>',
    'X-Original-To: Alice@Example.COM',
    'Delivered-To: alice@example.com',
  ]);
  assert.ok(msgs[0]!.body.includes('\n>From the start of a line\n'));
  assert.ok(msgs[0]!.body.includes('\n>From already quoted\n'), 'only lines starting with "From " are quoted');
  assert.ok(msgs[0]!.body.includes('\n.dot line\n'));
  assert.match(msgs[1]!.fromLine, /^From MAILER-DAEMON /);
  assert.equal(msgs[1]!.headers[0], 'Return-Path: <>');
  const st = await stat(join(f.spool, 'alice'));
  assert.equal(st.mode & 0o777, 0o600);
  assert.equal(st.uid, TEST_UID);
});

test('Maildir delivery via home_mailbox: tmp then new, unique names, headers', async () => {
  const { f, make } = await setup({ home_mailbox: 'Maildir/' });
  const { config, deliver } = make();
  for (let i = 0; i < 3; i++) {
    const r = await run(deliver, f, config, ['bob@example.com']);
    assert.deepEqual([r[0]!.status, r[0]!.reason], ['sent', 'delivered to maildir']);
  }
  const md = join(f.home('bob'), 'Maildir');
  assert.deepEqual(await readdir(join(md, 'tmp')), []);
  assert.deepEqual(await readdir(join(md, 'cur')), []);
  const names = await readdir(join(md, 'new'));
  assert.equal(names.length, 3);
  assert.equal(new Set(names).size, 3);
  for (const n of names) assert.match(n, /^\d+\.V[0-9a-f]+I[0-9a-f]+M\d+\..+$/);
  const msg = await readFile(join(md, 'new', names[0]!), 'utf8');
  assert.ok(msg.startsWith('Return-Path: <sender@remote.example>\nX-Original-To: bob@example.com\nDelivered-To: bob@example.com\nFrom: Sender'));
  assert.ok(msg.includes('\nFrom the start of a line\n'), 'no From_ quoting in Maildir');
  assert.equal((await stat(join(md, 'new', names[0]!))).uid, TEST_UID);
});

test('a failing mbox delivery truncates the mailbox back to its old length', async () => {
  const { f, make } = await setup();
  const { config, deliver } = make();
  await run(deliver, f, config, ['carol@example.com']);
  const before = (await stat(join(f.spool, 'carol'))).size;
  const { config: small, deliver: limited } = make({ mailbox_size_limit: String(before + 150) });
  const r = await run(limited, f, small, ['carol@example.com']);
  assert.equal(r[0]!.status, 'bounced');
  assert.equal(r[0]!.dsn, '5.2.2');
  assert.match(r[0]!.reason, /cannot update mailbox .*carol.*File too large/);
  assert.equal((await stat(join(f.spool, 'carol'))).size, before);
});

test('a held dotlock defers; a stale one is removed', async () => {
  const { f, make } = await setup({ mailbox_delivery_lock: 'dotlock' });
  const { config, deliver } = make();
  await writeFile(join(f.spool, 'alice.lock'), '');
  const r = await run(deliver, f, config, ['alice@example.com']);
  assert.deepEqual([r[0]!.status, r[0]!.dsn], ['deferred', '4.2.0']);
  assert.match(r[0]!.reason, /unable to create lock file .*alice\.lock: File exists/);
  assert.ok(existsSync(join(f.spool, 'alice.lock')), 'a fresh lock is not ours to remove');
  const stale = make({ stale_lock_time: '0s' });
  await new Promise((res) => setTimeout(res, 1100));
  const r2 = await run(stale.deliver, f, stale.config, ['alice@example.com']);
  assert.equal(r2[0]!.status, 'sent');
  assert.ok(!existsSync(join(f.spool, 'alice.lock')), 'released after delivery');
});

test('a held fcntl lock defers', async () => {
  const { f, make } = await setup({ mailbox_delivery_lock: 'fcntl' });
  const { config, deliver } = make();
  await run(deliver, f, config, ['bob@example.com']);
  const held = await kernelLock(join(f.spool, 'bob'), 'fcntl');
  const r = await run(deliver, f, config, ['bob@example.com']);
  assert.deepEqual([r[0]!.status, r[0]!.dsn], ['deferred', '4.2.0']);
  assert.match(r[0]!.reason, /unable to lock for exclusive access/);
  await held.release();
  const r2 = await run(deliver, f, config, ['bob@example.com']);
  assert.equal(r2[0]!.status, 'sent');
  assert.equal(parseMbox(await readFile(join(f.spool, 'bob'), 'utf8')).length, 2);
});

test('aliases: list, :include:, |command, /file, owner- sender, case-folded key', async () => {
  const { f, make } = await setup();
  const cleanup = await f.cleanup();
  const out = join(f.dir, 'cmd-out');
  const file = join(f.dir, 'file-box');
  const inc = join(f.dir, 'include');
  await writeFile(inc, '# members\ncarol\n');
  await chmod(inc, 0o644);
  const spec = await f.aliases(
    [
      `List: alice, bob@example.com, :include:${inc}`,
      'owner-list: alice',
      `pipe: "|cat > ${out}"`,
      `save: ${file}`,
    ].join('\n') + '\n',
  );
  const { config, deliver } = make({ alias_maps: spec });
  const r = await run(deliver, f, config, ['LIST@example.com', 'pipe@example.com', 'save@example.com']);
  await cleanup.stop();
  assert.deepEqual(r.map((x) => x.status), ['sent', 'sent', 'sent']);
  assert.equal(r[1]!.reason, `delivered to command: cat > ${out}`);
  assert.equal(r[2]!.reason, `delivered to file: ${file}`);
  // a list with an owner- alias (and an :include: file) sends its local members a new message (Postfix's deliver_indirect)
  assert.equal(cleanup.submissions.length, 1);
  const sub = cleanup.submissions[0]!;
  assert.equal(sub.request.sender, 'owner-list@example.com');
  assert.deepEqual(sub.request.recipients.map((x) => [x.address, x.original]), [
    ['alice@example.com', 'LIST@example.com'],
    ['bob@example.com', 'LIST@example.com'],
    ['carol@example.com', 'LIST@example.com'],
  ]);
  assert.ok(sub.content.startsWith('Delivered-To: LIST@example.com\n'));
  const piped = await readFile(out, 'utf8');
  assert.match(piped, /^From sender@remote\.example .*\nReturn-Path: <sender@remote\.example>\nX-Original-To: pipe@example\.com\nDelivered-To: pipe@example\.com\nFrom: Sender/);
  assert.ok(!piped.endsWith('\n\n'), 'commands get no trailing empty line');
  const boxed = parseMbox(await readFile(file, 'utf8'));
  assert.equal(boxed.length, 1);
  assert.equal(boxed[0]!.headers[2], 'Delivered-To: save@example.com');
});

test('.forward with a command and a remote address: command runs, address re-injected through cleanup', async () => {
  const { f, make } = await setup();
  const cleanup = await f.cleanup();
  const out = join(f.dir, 'fwd-out');
  await writeFile(join(f.home('alice'), '.forward'), `# comment\n"|cat > ${out}", friend@remote.example\n\\alice\n`);
  const { config, deliver } = make();
  const r = await run(deliver, f, config, [{ address: 'alice@example.com', original: 'a@example.com' }]);
  await cleanup.stop();
  assert.equal(r[0]!.status, 'sent');
  assert.match(r[0]!.reason, /delivered to command: cat > .*fwd-out; forwarded as FWD1; delivered to mailbox/);
  assert.ok((await readFile(out, 'utf8')).includes('Delivered-To: alice@example.com\n'));
  assert.equal(parseMbox(await readFile(join(f.spool, 'alice'), 'utf8')).length, 1);
  assert.equal(cleanup.submissions.length, 1);
  const sub = cleanup.submissions[0]!;
  assert.equal(sub.request.origin, 'local');
  assert.equal(sub.request.sender, 'sender@remote.example');
  assert.deepEqual(sub.request.recipients, [{ address: 'friend@remote.example', original: 'a@example.com' }]);
  assert.ok(sub.content.startsWith('Delivered-To: alice@example.com\nFrom: Sender'));
});

test('a message that already has Delivered-To: <recipient> bounces 5.4.6', async () => {
  const { f, make } = await setup();
  const { config, deliver } = make();
  const r = await run(deliver, f, config, ['alice@example.com'], 'Delivered-To: ALICE@example.com\r\nSubject: loop\r\n\r\nbody\r\n');
  assert.deepEqual([r[0]!.status, r[0]!.dsn, r[0]!.reason], ['bounced', '5.4.6', 'mail forwarding loop for alice@example.com']);
  assert.ok(!existsSync(join(f.spool, 'alice')));
});

test('recipient_delimiter: extension delivered to the user, .forward+ext chosen first', async () => {
  const { f, make } = await setup({ recipient_delimiter: '+' });
  const out = join(f.dir, 'ext-out');
  await writeFile(join(f.home('bob'), '.forward+lists'), `"|cat > ${out}"\n`);
  const { config, deliver } = make();
  const r = await run(deliver, f, config, ['bob+lists@example.com', 'alice+other@example.com']);
  assert.deepEqual(r.map((x) => x.status), ['sent', 'sent']);
  assert.ok((await readFile(out, 'utf8')).includes('Delivered-To: bob+lists@example.com'));
  const [m] = parseMbox(await readFile(join(f.spool, 'alice'), 'utf8'));
  assert.equal(m!.headers[2], 'Delivered-To: alice+other@example.com');
});

test('unknown user bounces 5.1.1; luser_relay takes it instead', async () => {
  const { f, make } = await setup();
  const plain = make();
  const r = await run(plain.deliver, f, plain.config, ['Nosuch@example.com']);
  assert.deepEqual([r[0]!.status, r[0]!.dsn, r[0]!.reason], ['bounced', '5.1.1', 'unknown user: "nosuch"']);
  const relay = make({ luser_relay: 'carol' });
  const r2 = await run(relay.deliver, f, relay.config, ['nosuch@example.com']);
  assert.equal(r2[0]!.status, 'sent');
  const [m] = parseMbox(await readFile(join(f.spool, 'carol'), 'utf8'));
  assert.equal(m!.headers[1], 'X-Original-To: nosuch@example.com');
});

test('allow_mail_to_commands=alias refuses a .forward command', async () => {
  const { f, make } = await setup({ allow_mail_to_commands: 'alias' });
  const out = join(f.dir, 'refused');
  await writeFile(join(f.home('carol'), '.forward'), `"|cat > ${out}"\n`);
  const { config, deliver } = make();
  const r = await run(deliver, f, config, ['carol@example.com']);
  assert.deepEqual([r[0]!.status, r[0]!.dsn, r[0]!.reason], ['bounced', '5.7.1', 'mail to command is restricted']);
  assert.ok(!existsSync(out));
});

test('bad local parts never reach a path or a shell', async () => {
  const { f, make } = await setup({ recipient_delimiter: '+' });
  const envOut = join(f.dir, 'env-out');
  const spec = await f.aliases(`sink: "|env > ${envOut}"\n`);
  const { config, deliver } = make({ alias_maps: spec });
  const before = (await readdir(f.dir)).sort();
  const bad = ['../x@example.com', 'a|b@example.com', '$(touch pwned)@example.com', '../../etc/passwd@example.com'];
  const r = await run(deliver, f, config, bad);
  for (const x of r) assert.deepEqual([x.status, x.dsn], ['bounced', '5.1.1']);
  assert.deepEqual(await readdir(f.spool), []);
  const r2 = await run(deliver, f, config, ['sink+$(touch${IFS}pwned)`id`@example.com']);
  assert.equal(r2[0]!.status, 'sent');
  const env = await readFile(envOut, 'utf8');
  assert.match(env, /^EXTENSION=__touch__IFS_pwned__id_$/m);
  assert.match(env, /^RECIPIENT=sink\+__touch__IFS_pwned__id_@example\.com$/m);
  assert.match(env, /^ORIGINAL_RECIPIENT=/m);
  assert.match(env, /^SENDER=sender@remote\.example$/m);
  assert.match(env, /^PATH=\/usr\/bin:\/bin$/m);
  assert.deepEqual((await readdir(f.dir)).filter((n) => !before.includes(n)).sort(), ['env-out']);
  assert.ok(!existsSync(join(f.dir, 'pwned')) && !existsSync('pwned'));
});

test('command exit status: 75 defers, 67 bounces 5.1.1 with output, enhanced status in output wins', async () => {
  const { f, make } = await setup();
  const spec = await f.aliases(
    ['soft: "|echo try later; exit 75"', 'hard: "|echo no such mailbox >&2; exit 67"', 'dsn: "|echo 5.2.2 over quota; exit 1"', 'odd: "|exit 3"'].join('\n') + '\n',
  );
  const { config, deliver } = make({ alias_maps: spec });
  const r = await run(deliver, f, config, ['soft@example.com', 'hard@example.com', 'dsn@example.com', 'odd@example.com']);
  assert.deepEqual(r.map((x) => [x.status, x.dsn]), [
    ['deferred', '4.3.0'],
    ['bounced', '5.1.1'],
    ['bounced', '5.2.2'],
    ['bounced', '5.3.0'],
  ]);
  assert.equal(r[0]!.reason, 'temporary failure. Command output: try later');
  assert.equal(r[1]!.reason, 'user unknown. Command output: no such mailbox');
  assert.equal(r[2]!.reason, 'over quota');
  assert.equal(r[3]!.reason, 'Command died with status 3: "exit 3"');
});

test('a hanging command is killed after command_time_limit and deferred', async () => {
  const { f, make } = await setup({ command_time_limit: '1s' });
  const marker = join(f.dir, 'survivor');
  const spec = await f.aliases(`slow: "|sleep 5; touch ${marker}"\n`);
  const { config, deliver } = make({ alias_maps: spec });
  const r = await run(deliver, f, config, ['slow@example.com']);
  assert.deepEqual([r[0]!.status, r[0]!.dsn], ['deferred', '4.3.0']);
  assert.match(r[0]!.reason, /^Command time limit exceeded: "sleep 5; touch /);
  await new Promise((res) => setTimeout(res, 300));
  assert.ok(!existsSync(marker), 'the whole process group was killed');
});

test('commands run with the destination privileges (default_privs for root-owned aliases) when root', async () => {
  const { f, make } = await setup();
  const out = join(f.dir, 'id-out');
  await writeFile(join(f.home('bob'), '.forward'), `"|id -u > ${out}"\n`);
  const { config, deliver } = make();
  const r = await run(deliver, f, config, ['bob@example.com']);
  assert.equal(r[0]!.status, 'sent');
  const uid = Number((await readFile(out, 'utf8')).trim());
  assert.equal(uid, isRoot ? TEST_UID : process.getuid!());
});

test('plugged into core deliveryAgent: content from the store, statuses logged', async () => {
  const { f, make } = await setup();
  const { config } = make();
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
  const res = await agent.deliver(request(['alice@example.com', 'ghost@example.com']));
  assert.deepEqual(res.results.map((x) => x.status), ['sent', 'bounced']);
  assert.ok(appended.some((l) => l.startsWith('bounce ghost@example.com 5.1.1')), appended.join('|'));
  assert.ok(f.log.lines.some((l) => /to=<alice@example\.com>.*relay=local.*status=sent \(delivered to mailbox\)/.test(l)), f.log.lines.join('\n'));
});
