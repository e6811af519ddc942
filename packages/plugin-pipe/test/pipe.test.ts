import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createTableRegistry,
  type AgentContext,
  type DeliveryRequest,
  type Logger,
  type MessageSource,
} from '@postern/core';
import { testConfig } from '@postern/testkit';
import { createPipeDeliver, parsePipeArgs, expandArgv, unescapeEol } from '../src/index.js';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const log: Logger = {
  info() {}, warn() {}, error() {}, fatal() {}, panic() {}, debug() {}, verbose: false,
  child() { return log; },
};

async function setup(params: Record<string, string> = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'postern-pipe-'));
  dirs.push(dir);
  await chmod(dir, 0o777);
  const passwd = join(dir, 'passwd');
  const group = join(dir, 'group');
  await writeFile(passwd, 'root:x:0:0:root:/root:/bin/sh\npostfix:x:101:101::/var/spool/postfix:/bin/false\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n');
  await writeFile(group, 'root:x:0:\nnogroup:x:65534:\n');
  const config = testConfig({ configDirectory: dir, mainCf: { queue_directory: dir, mail_owner: 'postfix', ...params } });
  const tables = createTableRegistry({ unixFiles: { passwd, group } });
  return { dir, config, tables };
}

function req(recipients: readonly (string | { address: string; original?: string })[], sender = 'sender@remote.example', size = 100): DeliveryRequest {
  return {
    queueId: 'PIPEQ1',
    queueName: 'active',
    transport: 'filter',
    nexthop: 'Example.COM',
    sender,
    recipients: recipients.map((r, index) => (typeof r === 'string' ? { index, address: r } : { index, ...r })),
    arrivalTime: Date.now(),
    size,
    client: { name: 'client.example', address: '192.0.2.1', helo: 'helo.example', protocol: 'ESMTP' },
  };
}

const src = (text: string): MessageSource => ({
  queueId: 'PIPEQ1',
  size: text.length,
  async *stream() {
    yield Buffer.from(text);
  },
  buffer: async () => Buffer.from(text),
});

const agent = (config: AgentContext['config'], service = 'filter'): AgentContext => ({
  service, config, log, signal: new AbortController().signal, connected() {}, destinationDown() {},
});

const MESSAGE = 'Subject: hi\r\n\r\nFrom here\r\n.dot\r\nend\r\n';

test('parsePipeArgs: attributes, flags, eol escapes, braces, required user= and argv=', () => {
  const a = parsePipeArgs(['flags=DRXhu.>', 'user=vmail:mail', 'size=1000', 'eol=\\r\\n', 'null_sender=', 'argv=/usr/bin/maildrop', '-d', '{ ${recipient} x }']);
  assert.equal(a.user, 'vmail');
  assert.equal(a.group, 'mail');
  assert.equal(a.size, 1000);
  assert.equal(a.eol, '\r\n');
  assert.equal(a.nullSender, '');
  assert.deepEqual(a.argv, ['/usr/bin/maildrop', '-d', '${recipient} x']);
  assert.equal(a.flags.delivered && a.flags.returnPath && a.flags.final && a.flags.foldHost && a.flags.foldUser && a.flags.dot && a.flags.quoteFrom, true);
  assert.equal(unescapeEol('\\101\\t\\\\'), 'A\t\\');
  assert.throws(() => parsePipeArgs(['argv=/bin/true']), /missing user=/);
  assert.throws(() => parsePipeArgs(['user=nobody']), /missing argv=/);
  assert.throws(() => parsePipeArgs(['flags=Z', 'user=nobody', 'argv=/bin/true']), /unknown flag/);
});

test('expandArgv: ${recipient} gives one argument per recipient; h, q, u flags', () => {
  const attrs = parsePipeArgs(['flags=hqu', 'user=nobody', 'argv=/bin/cmd', '-f', '${sender}', '--', '${recipient}', '$nexthop', 'u=${user}', 'x=$(extension)', '$$HOME']);
  const r = req(['Joe+Ext@Example.COM', { address: 'a b@x.org', original: 'O@X.ORG' }], 'First Last@remote.example');
  assert.deepEqual(expandArgv(attrs, r, r.recipients, '+'), [
    '/bin/cmd', '-f', '"First Last"@remote.example', '--', 'joe+ext@example.com', '"a b"@x.org', 'example.com', 'u=joe', 'u=a b', 'x=ext', 'x=', '$HOME',
  ]);
  const plain = parsePipeArgs(['user=nobody', 'argv=/bin/cmd', '${original_recipient}', '${sender}', '${size}', '${queue_id}', '${client_address}', '${client_helo}']);
  assert.deepEqual(expandArgv(plain, req([{ address: 'a@x', original: 'O@X' }], ''), req([{ address: 'a@x', original: 'O@X' }]).recipients, ''), [
    '/bin/cmd', 'O@X', 'MAILER-DAEMON', '100', 'PIPEQ1', '192.0.2.1', 'helo.example',
  ]);
  assert.throws(() => expandArgv(parsePipeArgs(['user=nobody', 'argv=/bin/cmd', '${bogus}']), r, r.recipients, ''), /unknown macro name: bogus/);
});

async function script(dir: string, name: string, body: string): Promise<string> {
  const p = join(dir, name);
  await writeFile(p, `#!/bin/sh\n${body}\n`);
  await chmod(p, 0o755);
  return p;
}

test('exit 0 delivered, 75 deferred, 64 bounced with the output as reason', async () => {
  const { dir, config, tables } = await setup();
  const out = join(dir, 'out');
  const ok = await script(dir, 'ok.sh', `cat > ${out}; echo queued fine`);
  const soft = await script(dir, 'soft.sh', 'cat >/dev/null; echo mailbox busy; exit 75');
  const hard = await script(dir, 'hard.sh', 'echo bad usage >&2; exit 64');
  const run = (argv: string, flags = '') =>
    createPipeDeliver({ config, tables, args: [...(flags ? [`flags=${flags}`] : []), 'user=nobody', `argv=${argv}`] })(req(['a@example.com']), src(MESSAGE), agent(config));
  const r0 = await run(ok, 'X');
  assert.deepEqual([r0[0]!.status, r0[0]!.dsn, r0[0]!.reason, r0[0]!.action, r0[0]!.relay], ['sent', '2.0.0', 'delivered via filter service. Command output: queued fine', 'delivered', 'filter']);
  assert.equal(await readFile(out, 'utf8'), 'Subject: hi\n\nFrom here\n.dot\nend\n');
  const r1 = await run(soft);
  assert.deepEqual([r1[0]!.status, r1[0]!.dsn, r1[0]!.reason], ['deferred', '4.3.0', 'temporary failure. Command output: mailbox busy']);
  const r2 = await run(hard);
  assert.deepEqual([r2[0]!.status, r2[0]!.dsn, r2[0]!.reason], ['bounced', '5.3.0', 'command line usage error. Command output: bad usage']);
  const r3 = await run(ok);
  assert.equal(r3[0]!.action, 'relayed');
});

test('several recipients: one run, ${recipient} expanded per recipient, same status for all', async () => {
  const { dir, config, tables } = await setup();
  const out = join(dir, 'args');
  const s = await script(dir, 'args.sh', `for a in "$@"; do echo "[$a]"; done > ${out}; cat >/dev/null`);
  const d = createPipeDeliver({ config, tables, args: ['user=nobody', `argv=${s}`, '-s', '${sender}', '${recipient}', '--', '$(user)'] });
  const r = await d(req(['one@example.com', 'two words@example.com', 'three@example.com']), src(MESSAGE), agent(config));
  assert.deepEqual(r.map((x) => [x.index, x.status]), [[0, 'sent'], [1, 'sent'], [2, 'sent']]);
  assert.equal(
    await readFile(out, 'utf8'),
    '[-s]\n[sender@remote.example]\n[one@example.com]\n[two words@example.com]\n[three@example.com]\n[--]\n[one]\n[two words]\n[three]\n',
  );
});

test('flags F, R, D, O, B, . and > shape the message; eol=\\r\\n', async () => {
  const { dir, config, tables } = await setup();
  const out = join(dir, 'msg');
  const s = await script(dir, 'save.sh', `cat > ${out}`);
  const d = createPipeDeliver({ config, tables, args: ['flags=FRDOB.>', 'user=nobody', 'eol=\\r\\n', `argv=${s}`] });
  const r = await d(req([{ address: 'rcpt@example.com', original: 'Orig@example.com' }], ''), src(MESSAGE), agent(config));
  assert.equal(r[0]!.status, 'sent');
  const text = await readFile(out, 'utf8');
  const lines = text.split('\r\n');
  assert.match(lines[0]!, /^From MAILER-DAEMON  \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}$/);
  assert.deepEqual(lines.slice(1), [
    'Return-Path: <MAILER-DAEMON>',
    'X-Original-To: Orig@example.com',
    'Delivered-To: rcpt@example.com',
    'Subject: hi',
    '',
    '>From here',
    '..dot',
    'end',
    '',
    '',
  ]);
});

test('D flag: Delivered-To loop bounces 5.4.6 without running the command for that recipient', async () => {
  const { dir, config, tables } = await setup();
  const out = join(dir, 'ran');
  const s = await script(dir, 'rec.sh', `echo "$@" > ${out}; cat >/dev/null`);
  const d = createPipeDeliver({ config, tables, args: ['flags=D', 'user=nobody', `argv=${s}`, '${recipient}'] });
  const r = await d(req(['loop@example.com', 'fresh@example.com']), src('Delivered-To: LOOP@example.com\r\n\r\nbody\r\n'), agent(config));
  assert.deepEqual(r.map((x) => [x.index, x.status, x.dsn]), [[0, 'bounced', '5.4.6'], [1, 'sent', '2.0.0']]);
  assert.equal(r[0]!.reason, 'mail forwarding loop for loop@example.com');
  assert.equal((await readFile(out, 'utf8')).trim(), 'fresh@example.com');
});

test('arguments never reach a shell; size= limit; user= root refused; command time limit kills and defers', async () => {
  const { dir, config, tables } = await setup({ filter_time_limit: '1s' });
  const out = join(dir, 'argv');
  const s = await script(dir, 'one.sh', `printf '%s\\n' "$1" > ${out}; cat >/dev/null`);
  const d = createPipeDeliver({ config, tables, args: ['user=nobody', `argv=${s}`, '${recipient}'] });
  const evil = '$(touch pwned);`id`|x@example.com';
  const r = await d(req([evil]), src(MESSAGE), agent(config));
  assert.equal(r[0]!.status, 'sent');
  assert.equal((await readFile(out, 'utf8')).trim(), evil);
  assert.ok(!existsSync(join(dir, 'pwned')));

  const small = createPipeDeliver({ config, tables, args: ['user=nobody', 'size=10', `argv=${s}`] });
  assert.deepEqual((await small(req(['a@x'], 's@x', 11), src(MESSAGE), agent(config))).map((x) => [x.status, x.dsn]), [['bounced', '5.2.3']]);

  const rooted = createPipeDeliver({ config, tables, args: ['user=root', `argv=${s}`] });
  const rr = await rooted(req(['a@x']), src(MESSAGE), agent(config));
  assert.deepEqual([rr[0]!.status, rr[0]!.dsn], ['deferred', '4.3.5']);
  assert.match(rr[0]!.reason, /root privileges/);
  const owner = createPipeDeliver({ config, tables, args: ['user=postfix', `argv=${s}`] });
  assert.match((await owner(req(['a@x']), src(MESSAGE), agent(config)))[0]!.reason, /mail system owner/);

  const marker = join(dir, 'late');
  const slow = await script(dir, 'slow.sh', `sleep 5; touch ${marker}`);
  const hung = createPipeDeliver({ config, tables, args: ['user=nobody', `argv=${slow}`] });
  const rh = await hung(req(['a@x']), src(MESSAGE), agent(config));
  assert.deepEqual([rh[0]!.status, rh[0]!.dsn], ['deferred', '4.3.0']);
  assert.match(rh[0]!.reason, /^Command time limit exceeded: /);
  await new Promise((res) => setTimeout(res, 300));
  assert.ok(!existsSync(marker));
});

test('user= privileges: the command runs as that user when root, else as the current user', async () => {
  const { dir, config, tables } = await setup();
  const out = join(dir, 'uid');
  const s = await script(dir, 'id.sh', `id -u > ${out}; id -g >> ${out}`);
  const d = createPipeDeliver({ config, tables, args: ['user=nobody:nogroup', `argv=${s}`] });
  const r = await d(req(['a@x']), src(MESSAGE), agent(config));
  assert.equal(r[0]!.status, 'sent');
  const [uid, gid] = (await readFile(out, 'utf8')).trim().split('\n').map(Number);
  assert.deepEqual([uid, gid], isRoot ? [65534, 65534] : [process.getuid!(), process.getgid!()]);
});
