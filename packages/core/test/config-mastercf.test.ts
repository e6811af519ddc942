import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isPosternError } from '../src/errors.js';
import { entryKey } from '../src/contracts/service.js';
import { ParameterRegistry, createConfigView, effectiveProcessLimit, loadMasterCf, parseInetService, parseMainCf, parseMasterCf } from '../src/config/index.js';

const FIXTURES = fileURLToPath(new URL('../../test/fixtures/postfix/', import.meta.url));

test('Debian master.cf.dist parses: every service, defaults and -o options', async () => {
  const entries = parseMasterCf(await readFile(join(FIXTURES, 'master.cf.dist'), 'utf8'), '/etc/postfix/master.cf');
  assert.equal(entries.length, 31);
  const by = new Map(entries.map((e) => [entryKey(e), e]));
  const smtpd = by.get('smtp/inet');
  assert.ok(smtpd);
  assert.deepEqual(
    { ...smtpd, fields: undefined, argv: undefined },
    {
      name: 'smtp', type: 'inet', private: false, unprivileged: true, chroot: true, wakeup: 0, wakeupIfUsed: false,
      maxproc: 100, maxprocDefault: true, command: 'smtpd', args: [], overrides: {}, flags: [],
      file: '/etc/postfix/master.cf', line: 12, endLine: 12, fields: undefined, argv: undefined,
    },
  );
  const tlsmgr = by.get('tlsmgr/unix');
  assert.equal(tlsmgr?.wakeup, 1000);
  assert.equal(tlsmgr?.wakeupIfUsed, true);
  assert.equal(tlsmgr?.maxproc, 1);
  assert.equal(by.get('pickup/unix')?.wakeup, 60);
  assert.equal(by.get('pickup/unix')?.wakeupIfUsed, false);
  assert.equal(by.get('cleanup/unix')?.maxproc, 0);
  assert.equal(by.get('postlog/unix-dgram')?.command, 'postlogd');
  assert.deepEqual(by.get('relay/unix')?.overrides, { syslog_name: 'postfix/$service_name' });
  const local = by.get('local/unix');
  assert.equal(local?.unprivileged, false);
  assert.equal(local?.chroot, false);
  assert.equal(local?.private, true);
  const maildrop = by.get('maildrop/unix');
  assert.deepEqual(maildrop?.args, ['flags=DRXhu', 'user=vmail', 'argv=/usr/bin/maildrop', '-d', '${recipient}']);
  assert.deepEqual(maildrop?.overrides, {});
});

test('reconstructed master.cf of the admin guide parses', async () => {
  const text = await readFile(join(FIXTURES, 'master.cf.admin-guide'), 'utf8');
  const entries = parseMasterCf(text, 'master.cf.admin-guide');
  assert.deepEqual(
    entries.map(entryKey),
    [
      'smtp/inet', 'submission/inet', 'smtps/inet', 'pickup/unix', 'cleanup/unix', 'qmgr/unix', 'tlsmgr/unix', 'rewrite/unix',
      'bounce/unix', 'defer/unix', 'trace/unix', 'verify/unix', 'flush/unix', 'proxymap/unix', 'proxywrite/unix', 'smtp/unix',
      'relay/unix', 'showq/unix', 'error/unix', 'retry/unix', 'discard/unix', 'local/unix', 'virtual/unix', 'lmtp/unix',
      'anvil/unix', 'scache/unix', 'postlog/unix-dgram',
    ],
  );
  const submission = entries[1];
  assert.deepEqual(submission?.overrides, {}, 'commented -o lines do not belong to the entry');
  const relay = entries.find((e) => e.name === 'relay');
  assert.deepEqual(relay?.overrides, { syslog_name: 'postfix/$service_name' });
  assert.equal(relay?.line, 47);
  assert.equal(relay?.endLine, 48);
  assert.equal(entries.every((e) => !e.chroot), true);
});

const OPTION_CASES = [
  {
    label: '-o on continuation lines with comments between',
    text: 'smtp inet n - n - - smtpd\n  -o a=1\n# c\n\n  -o b=$x\n',
    overrides: { a: '1', b: '$x' }, flags: [], args: [],
  },
  {
    label: 'braced -o with white space (Postfix 3.0+)',
    text: 'smtp inet n - n - - smtpd -o { smtpd_client_restrictions = permit_mynetworks, reject } -o { x=y }',
    overrides: { smtpd_client_restrictions: 'permit_mynetworks, reject', x: 'y' }, flags: [], args: [],
  },
  { label: 'attached -oname=value', text: 'smtp inet n - n - - smtpd -oa=b -o{c = d}', overrides: { a: 'b', c: 'd' }, flags: [], args: [] },
  { label: 'empty value', text: 'pickup unix n - n 60 1 pickup -o content_filter= -o { a = }', overrides: { content_filter: '', a: '' }, flags: [], args: [] },
  { label: 'flags', text: 'smtp inet n - n - - smtpd -v -D -S -o a=b', overrides: { a: 'b' }, flags: ['-v', '-D', '-S'], args: [] },
  { label: 'flag with value', text: 'x unix - - n - - foo -t unix -o a=b arg1', overrides: { a: 'b' }, flags: ['-t', 'unix'], args: ['arg1'] },
  {
    label: 'options end at the first argument (pipe argv keeps its -o and -e)',
    text: 'cyrus unix - n n - - pipe flags=R user=cyrus argv=/usr/bin/deliver -e -r ${sender} -o x=y { a b }',
    overrides: {}, flags: [], args: ['flags=R', 'user=cyrus', 'argv=/usr/bin/deliver', '-e', '-r', '${sender}', '-o', 'x=y', 'a b'],
  },
  { label: '-- ends options', text: 'x unix - - n - - foo -v -- -o a=b', overrides: {}, flags: ['-v'], args: ['-o', 'a=b'] },
] as const;

for (const c of OPTION_CASES) {
  test(`master.cf options: ${c.label}`, () => {
    const [e] = parseMasterCf(c.text);
    assert.deepEqual(e?.overrides, c.overrides);
    assert.deepEqual(e?.flags, c.flags);
    assert.deepEqual(e?.args, c.args);
  });
}

const FIELD_CASES = [
  { text: 'a unix - - - - - cmd', private: true, unprivileged: true, chroot: false, wakeup: 0, ifUsed: false, maxproc: 7, dflt: true },
  { text: 'a unix y n y 0 0 cmd', private: true, unprivileged: false, chroot: true, wakeup: 0, ifUsed: false, maxproc: 0, dflt: false },
  { text: 'a fifo n y n 300? 3 cmd', private: false, unprivileged: true, chroot: false, wakeup: 300, ifUsed: true, maxproc: 3, dflt: false },
  { text: 'a pass - - n - 12 cmd', private: true, unprivileged: true, chroot: false, wakeup: 0, ifUsed: false, maxproc: 12, dflt: false },
] as const;

for (const c of FIELD_CASES) {
  test(`master.cf fields: ${c.text}`, () => {
    const [e] = parseMasterCf(c.text, 'master.cf', { defaultProcessLimit: 7 });
    assert.deepEqual(
      [e?.private, e?.unprivileged, e?.chroot, e?.wakeup, e?.wakeupIfUsed, e?.maxproc, e?.maxprocDefault],
      [c.private, c.unprivileged, c.chroot, c.wakeup, c.ifUsed, c.maxproc, c.dflt],
    );
  });
}

test('maxproc "-" follows default_process_limit at use', () => {
  const [dash, fixed] = parseMasterCf('a unix - - n - - cmd\nb unix - - n - 5 cmd\n');
  const config = createConfigView({ mainCf: parseMainCf('default_process_limit = 42\n'), registry: ParameterRegistry.withCore(), configDirectory: '/x' });
  assert.equal(effectiveProcessLimit(dash!, config), 42);
  assert.equal(effectiveProcessLimit(fixed!, config), 5);
});

const SYNTAX_CASES = [
  { text: 'smtp inet n - n - -\n', line: 1, why: 'bad field count' },
  { text: '# x\nsmtp bogus n - n - - smtpd\n', line: 2, why: 'invalid type field "bogus"' },
  { text: 'smtp inet x - n - - smtpd\n', line: 1, why: 'invalid private field "x"' },
  { text: 'smtp inet n yes n - - smtpd\n', line: 1, why: 'invalid unprivileged field "yes"' },
  { text: 'smtp inet n - maybe - - smtpd\n', line: 1, why: 'invalid chroot field "maybe"' },
  { text: 'smtp inet n - n 10x - smtpd\n', line: 1, why: 'invalid wakeup field "10x"' },
  { text: 'smtp inet n - n - -1 smtpd\n', line: 1, why: 'invalid process_limit field "-1"' },
  { text: 'a unix - - n - - c\nsmtp inet n - n - - smtpd -o a = b\n', line: 2, why: 'missing \'=\' after attribute name: "a"' },
  { text: 'smtp inet n - n - - smtpd\n  -o q\n', line: 1, why: 'missing \'=\' after attribute name: "q"' },
  { text: 'smtp inet n - n - - smtpd -o\n', line: 1, why: '-o without name=value' },
  { text: 'smtp inet n - n - - smtpd -o { a = b\n', line: 1, why: "missing '}'" },
  { text: 'smtp inet n - n - - smtpd -o {=b}\n', line: 1, why: 'missing attribute name' },
] as const;

for (const c of SYNTAX_CASES) {
  test(`master.cf syntax error: ${c.why}`, () => {
    assert.throws(
      () => parseMasterCf(c.text, '/etc/postfix/master.cf'),
      (err: unknown) => isPosternError(err, 'POSTERN_ERR_MASTER_SYNTAX') && err.message.startsWith(`/etc/postfix/master.cf, line ${c.line}: ${c.why}`),
    );
  });
}

test('duplicate service/type is an error naming file and both lines', () => {
  const text = 'smtp inet n - n - - smtpd\nsmtp unix - - n - - smtp\n# c\nsmtp   inet  n - n - 1 postscreen\n';
  assert.throws(
    () => parseMasterCf(text, '/etc/postfix/master.cf'),
    (err: unknown) =>
      isPosternError(err, 'POSTERN_ERR_MASTER_DUPLICATE') &&
      err.message === '/etc/postfix/master.cf, line 4: duplicate service smtp/inet (first defined on line 1)',
  );
});

test('loadMasterCf reads <dir>/master.cf', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'postern-mastercf-'));
  try {
    await assert.rejects(loadMasterCf(dir), (err: unknown) => isPosternError(err, 'POSTERN_ERR_CONFIG_READ'));
    await writeFile(join(dir, 'master.cf'), 'smtp inet n - n - - smtpd\n');
    const [e] = await loadMasterCf(dir, { defaultProcessLimit: 9 });
    assert.equal(e?.file, join(dir, 'master.cf'));
    assert.equal(e?.maxproc, 9);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

const INET_CASES = [
  { name: '25', host: undefined, port: 25 },
  { name: 'smtp', host: undefined, port: 25 },
  { name: 'submission', host: undefined, port: 587 },
  { name: 'smtps', host: undefined, port: 465 },
  { name: 'submissions', host: undefined, port: 465 },
  { name: 'lmtp', host: undefined, port: 24 },
  { name: 'qmqp', host: undefined, port: 628 },
  { name: '127.0.0.1:2525', host: '127.0.0.1', port: 2525 },
  { name: 'localhost:smtp', host: 'localhost', port: 25 },
  { name: '127.0.0.1:submission', host: '127.0.0.1', port: 587 },
  { name: '[::1]:10025', host: '::1', port: 10025 },
  { name: '[2001:db8::1]:smtp', host: '2001:db8::1', port: 25 },
  { name: ':2525', host: undefined, port: 2525 },
  { name: '0', host: undefined, port: 0 },
] as const;

for (const c of INET_CASES) {
  test(`inet service ${c.name}`, () => {
    const svc = parseInetService(c.name);
    assert.equal(svc.host, c.host);
    assert.equal(svc.port, c.port);
  });
}

for (const bad of ['nosuchservice', '65536', '::1:25', '[::1]', '[127.0.0.1]:25', 'host:', 'a b']) {
  test(`inet service error ${JSON.stringify(bad)}`, () => {
    assert.throws(() => parseInetService(bad), (err: unknown) => isPosternError(err, 'POSTERN_ERR_SERVICE_NAME'));
  });
}

test('inet service names: services file, then the built-in list when it is missing', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'postern-services-'));
  try {
    const file = join(dir, 'services');
    await writeFile(file, '# comment\nfoo\t\t2626/tcp\tfooalias # x\nbar 3000/udp\n');
    assert.equal(parseInetService('foo', undefined, { servicesFile: file }).port, 2626);
    assert.equal(parseInetService('fooalias', undefined, { servicesFile: file }).port, 2626);
    assert.throws(() => parseInetService('bar', undefined, { servicesFile: file }), (e: unknown) => isPosternError(e, 'POSTERN_ERR_SERVICE_NAME'));
    assert.throws(() => parseInetService('imap', undefined, { servicesFile: file }), (e: unknown) => isPosternError(e, 'POSTERN_ERR_SERVICE_NAME'));
    const missing = join(dir, 'absent');
    assert.equal(parseInetService('imap', undefined, { servicesFile: missing }).port, 143);
    assert.equal(parseInetService('smtp', undefined, { servicesFile: missing, knownTcpPorts: '' }).port, 25);
    assert.equal(parseInetService('mail', undefined, { knownTcpPorts: 'mail=smtp2=2525' }).port, 2525);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('inet service hosts follow inet_interfaces when the name has no host', () => {
  assert.deepEqual(parseInetService('smtp', 'all').hosts, []);
  assert.deepEqual(parseInetService('smtp').hosts, []);
  assert.deepEqual(parseInetService('smtp', 'loopback-only').hosts, ['127.0.0.1', '::1']);
  assert.deepEqual(parseInetService('smtp', '192.0.2.1, [::1]').hosts, ['192.0.2.1', '::1']);
  assert.deepEqual(parseInetService('10.0.0.1:smtp', '192.0.2.1').hosts, ['10.0.0.1']);
});
