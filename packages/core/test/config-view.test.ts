import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isPosternError } from '../src/errors.js';
import {
  CORE_PARAMETERS,
  ParameterRegistry,
  checkUnusedParameters,
  createConfigView,
  domainOf,
  parseMainCf,
  parseMasterCf,
  splitList,
} from '../src/config/index.js';

const FIXTURES = fileURLToPath(new URL('../../test/fixtures/postfix/', import.meta.url));

function registry(): ParameterRegistry {
  const r = ParameterRegistry.withCore();
  r.declare('@postern/plugin-smtpd', [
    { name: 'smtpd_banner', default: '$myhostname ESMTP $mail_name', type: 'string' },
    { name: 'smtpd_timeout', default: '${stress?{10}:{300}}s', type: 'time' },
    { name: 'smtpd_client_restrictions', default: '', type: 'list' },
  ]);
  r.declare('@postern/plugin-local', [
    { name: 'local_destination_recipient_limit', default: '1', type: 'int' },
    { name: 'mailbox_size_limit', default: '51200000', type: 'size' },
  ]);
  r.declare('@postern/plugin-qmgr', [{ name: 'queue_run_delay', default: '300', type: 'time', unit: 's' }, { name: 'maximal_queue_lifetime', default: '5', type: 'time', unit: 'd' }]);
  return r;
}

test('CORE_PARAMETERS carry Postfix 3.7 defaults (postconf -d)', async () => {
  const text = await readFile(join(FIXTURES, 'postconf-d.txt'), 'utf8');
  const postfix = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^(\S+) = ?(.*)$/.exec(line);
    if (m) postfix.set(m[1] as string, m[2] as string);
  }
  // Machine- or product-specific values are Postern's own.
  const own = new Set(['myhostname', 'mydomain', 'mynetworks', 'mail_name', 'mail_version', 'syslog_name', 'max_use', 'process_id', 'process_name', 'config_directory', 'queue_directory']);
  let compared = 0;
  for (const spec of CORE_PARAMETERS) {
    assert.ok(postfix.has(spec.name), `${spec.name} is a Postfix parameter`);
    if (own.has(spec.name)) continue;
    assert.equal(spec.default, postfix.get(spec.name), spec.name);
    compared++;
  }
  assert.ok(compared > 60);
  const names = CORE_PARAMETERS.map((p) => p.name);
  assert.equal(new Set(names).size, names.length, 'no duplicates');
});

test('registry: owners, defaults, known names, conflicts', () => {
  const r = registry();
  assert.equal(r.owner('myorigin'), '@postern/core');
  assert.equal(r.owner('smtpd_banner'), '@postern/plugin-smtpd');
  assert.equal(r.defaultValue('myorigin'), '$myhostname');
  assert.equal(r.defaultValue('nosuch'), undefined);
  assert.equal(r.known('smtpd_banner'), true);
  assert.equal(r.known('smtpd_milters'), false);
  r.declare('@postern/plugin-other', [{ name: 'smtpd_banner', default: 'different' }, { name: 'myorigin', default: '$myhostname' }]);
  assert.equal(r.defaultValue('smtpd_banner'), '$myhostname ESMTP $mail_name');
  assert.equal(r.conflicts.length, 1);
  assert.match(r.conflicts[0] as string, /smtpd_banner.*@postern\/plugin-smtpd.*@postern\/plugin-other/);
});

const SERVICE_CASES: readonly (readonly [string, string | undefined])[] = [
  ['relay_destination_concurrency_limit', '$default_destination_concurrency_limit'],
  ['relay_destination_recipient_limit', '$default_destination_recipient_limit'],
  ['relay_initial_destination_concurrency', '$initial_destination_concurrency'],
  ['smtp_destination_rate_delay', '$default_destination_rate_delay'],
  ['uucp_time_limit', '$command_time_limit'],
  ['smtp_extra_recipient_limit', '$default_extra_recipient_limit'],
  ['smtp_recipient_limit', '$default_recipient_limit'],
  ['smtp_recipient_refill_limit', '$default_recipient_refill_limit'],
  ['smtp_recipient_refill_delay', '$default_recipient_refill_delay'],
  ['local_delivery_slot_cost', '$default_delivery_slot_cost'],
  ['local_delivery_slot_loan', '$default_delivery_slot_loan'],
  ['local_delivery_slot_discount', '$default_delivery_slot_discount'],
  ['local_minimum_delivery_slots', '$default_minimum_delivery_slots'],
  ['relay_destination_concurrency_failed_cohort_limit', '$default_destination_concurrency_failed_cohort_limit'],
  ['relay_destination_concurrency_positive_feedback', '$default_destination_concurrency_positive_feedback'],
  ['relay_destination_concurrency_negative_feedback', '$default_destination_concurrency_negative_feedback'],
  ['relay_transport_rate_delay', '$default_transport_rate_delay'],
  // An explicit declaration wins over the per-service form.
  ['local_destination_recipient_limit', '1'],
  // Not a service in master.cf, or not a per-transport suffix.
  ['nosuch_destination_concurrency_limit', undefined],
  ['relay_banner', undefined],
  ['_destination_concurrency_limit', undefined],
];

test('per-service parameters exist for every master.cf service', async () => {
  const r = registry();
  assert.equal(r.known('relay_destination_concurrency_limit'), false);
  r.addServices(parseMasterCf(await readFile(join(FIXTURES, 'master.cf.dist'), 'utf8')));
  for (const [name, want] of SERVICE_CASES) assert.equal(r.defaultValue(name), want, name);
  // Known for any service, as S_suffix...
  assert.equal(r.known('cleanup_destination_concurrency_limit'), true);
  // ...but listed only for delivery agents, as postconf -d does.
  const names = r.names();
  assert.ok(names.includes('relay_destination_concurrency_limit'));
  assert.ok(names.includes('uucp_time_limit'));
  assert.ok(!names.includes('relay_time_limit'));
  assert.ok(!names.includes('cleanup_destination_concurrency_limit'));
  assert.deepEqual(names, [...names].sort());
});

test('per-service names listed match postconf -d for the Debian master.cf', async () => {
  const r = ParameterRegistry.withCore();
  r.addServices(parseMasterCf(await readFile(join(FIXTURES, 'master.cf.dist'), 'utf8')));
  const text = await readFile(join(FIXTURES, 'postconf-d.txt'), 'utf8');
  const suffixes = /_(delivery_slot_cost|delivery_slot_discount|delivery_slot_loan|destination_concurrency_failed_cohort_limit|destination_concurrency_limit|destination_concurrency_negative_feedback|destination_concurrency_positive_feedback|destination_rate_delay|destination_recipient_limit|extra_recipient_limit|initial_destination_concurrency|minimum_delivery_slots|recipient_limit|recipient_refill_delay|recipient_refill_limit|time_limit|transport_rate_delay)$/;
  const services = new Set(r.serviceNames());
  const expected = text
    .split('\n')
    .map((l) => l.split(' = ')[0] as string)
    .filter((n) => suffixes.test(n) && services.has(n.replace(suffixes, '')));
  const listed = r.names().filter((n) => suffixes.test(n) && services.has(n.replace(suffixes, '')));
  assert.deepEqual(listed, expected);
});

test('view: main.cf, then -o overrides, then defaults; expansion at use', () => {
  const main = parseMainCf('myhostname = mx.example.com\nmyorigin = $mydomain\nsmtpd_banner = $myhostname ESMTP\nsyslog_name = postfix/$service_name\n', '/etc/postfix/main.cf');
  const r = registry();
  const v = createConfigView({
    mainCf: main,
    overrides: { myhostname: 'relay.example.net', smtpd_client_restrictions: 'permit_mynetworks, reject' },
    registry: r,
    configDirectory: '/etc/postern',
    runtime: { service_name: 'submission', process_name: 'smtpd', process_id: 4242 },
  });
  assert.equal(v.configDirectory, '/etc/postern');
  assert.equal(v.get('myhostname'), 'relay.example.net');
  assert.equal(v.get('mydomain'), 'example.net', 'computed default follows the effective myhostname');
  assert.equal(v.get('myorigin'), 'example.net');
  assert.equal(v.raw('myorigin'), '$mydomain');
  assert.equal(v.get('smtpd_banner'), 'relay.example.net ESMTP');
  assert.equal(v.get('syslog_name'), 'postfix/submission');
  assert.equal(v.get('process_id'), '4242');
  assert.equal(v.get('process_name'), 'smtpd');
  assert.equal(v.get('config_directory'), '/etc/postern');
  assert.equal(v.get('mydestination'), 'relay.example.net, localhost.example.net, localhost');
  assert.equal(v.get('nosuch'), '');
  assert.equal(v.raw('nosuch'), undefined);
  assert.equal(v.isSet('myhostname'), true);
  assert.equal(v.isSet('smtpd_client_restrictions'), true);
  assert.equal(v.isSet('mydomain'), false);
  assert.equal(v.has('mydomain'), true);
  assert.equal(v.has('nosuch'), false);
  assert.deepEqual(v.list('smtpd_client_restrictions'), ['permit_mynetworks', 'reject']);
  assert.equal(v.expand('$user@$myhostname', { user: 'bob' }), 'bob@relay.example.net');
  assert.equal(v.get('myhostname'), 'relay.example.net', 'cached value stays');
});

test('view: read-only runtime values beat main.cf', () => {
  const main = parseMainCf('process_name = bogus\nservice_name = bogus\n', 'main.cf');
  const v = createConfigView({ mainCf: main, registry: registry(), configDirectory: '/x', runtime: { service_name: 'relay', process_name: 'smtp' } });
  assert.equal(v.get('service_name'), 'relay');
  assert.equal(v.get('process_name'), 'smtp');
  assert.equal(v.get('process_id'), String(process.pid));
});

test('view: defaults without main.cf', () => {
  const v = createConfigView({ registry: registry(), configDirectory: '/etc/postfix' });
  const host = hostname().toLowerCase();
  const fqdn = host.includes('.') ? host : `${host}.localdomain`;
  assert.equal(v.get('myhostname'), fqdn);
  assert.equal(v.get('mydomain'), domainOf(fqdn));
  assert.equal(v.get('mynetworks_style'), 'subnet', 'compatibility_level 0');
  assert.equal(v.get('syslog_name'), 'postfix');
  assert.equal(v.bool('smtputf8_enable'), false, 'compatibility_level 0');
  assert.match(v.get('mynetworks'), /^127\.0\.0\.0\/8\b/);
  const v2 = createConfigView({ mainCf: parseMainCf('compatibility_level = 3.6\n'), registry: registry(), configDirectory: '/etc/postfix' });
  assert.equal(v2.get('mynetworks_style'), 'host');
  assert.match(v2.get('mynetworks'), /^127\.0\.0\.1\/32\b/);
  assert.equal(v2.bool('smtputf8_enable'), true);
});

test('view: typed accessors', () => {
  const main = parseMainCf(
    [
      'biff = No', 'b2 = TRUE', 'b3 = maybe',
      'max_use = 42', 'bad_int = 4x',
      'max_idle = 2m', 'queue_run_delay = 30', 'maximal_queue_lifetime = 2', 'ipc_timeout = 1h', 'daemon_timeout = 1w', 'fork_delay = 3',
      'bad_time = 5y',
      'message_size_limit = 1024', 'mailbox_size_limit = 10k',
      'stress = yes',
      'mydestination = a, b  c,,d',
      'smtpd_client_restrictions = check_policy_service { inet:127.0.0.1:9998, timeout=10s }, inline:{ a=b, c=d }  reject',
    ].join('\n'),
    'main.cf',
  );
  const v = createConfigView({ mainCf: main, registry: registry(), configDirectory: '/x' });
  assert.equal(v.bool('biff'), false);
  assert.equal(v.bool('b2'), true);
  assert.throws(() => v.bool('b3'), (e: unknown) => isPosternError(e, 'POSTERN_ERR_CONFIG_VALUE') && e.message === 'bad boolean value for parameter b3: maybe');
  assert.equal(v.int('max_use'), 42);
  assert.throws(() => v.int('bad_int'), (e: unknown) => isPosternError(e, 'POSTERN_ERR_CONFIG_VALUE'));
  assert.equal(v.time('max_idle'), 120);
  assert.equal(v.time('queue_run_delay'), 30);
  assert.equal(v.time('maximal_queue_lifetime'), 2 * 86400, 'bare number in the spec unit (d)');
  assert.equal(v.time('ipc_timeout'), 3600);
  assert.equal(v.time('daemon_timeout'), 7 * 86400);
  assert.equal(v.time('fork_delay'), 3);
  assert.equal(v.time('smtpd_timeout'), 10, '${stress?{10}:{300}}s with stress=yes');
  assert.throws(() => v.time('bad_time'), (e: unknown) => isPosternError(e, 'POSTERN_ERR_CONFIG_VALUE'));
  assert.equal(v.size('message_size_limit'), 1024);
  assert.throws(() => v.size('mailbox_size_limit'), (e: unknown) => isPosternError(e, 'POSTERN_ERR_CONFIG_VALUE'));
  assert.deepEqual(v.list('mydestination'), ['a', 'b', 'c', 'd']);
  assert.deepEqual(v.list('smtpd_client_restrictions'), ['check_policy_service', '{ inet:127.0.0.1:9998, timeout=10s }', 'inline:{ a=b, c=d }', 'reject']);
});

test('view: recursion in main.cf is an error at use', () => {
  const main = parseMainCf('myorigin = $mydomain\nmydomain = x.$myorigin\n', 'main.cf');
  const v = createConfigView({ mainCf: main, registry: registry(), configDirectory: '/x' });
  assert.equal(v.get('myhostname') !== '', true, 'other parameters still work');
  assert.throws(() => v.get('myorigin'), (e: unknown) => isPosternError(e, 'POSTERN_ERR_CONFIG_RECURSION'));
});

const LIST_CASES: readonly (readonly [string, readonly string[]])[] = [
  ['', []],
  [' , ,', []],
  ['a,b', ['a', 'b']],
  ['a\tb\nc', ['a', 'b', 'c']],
  ['hash:/etc/aliases, nis:mail.aliases', ['hash:/etc/aliases', 'nis:mail.aliases']],
  ['{ a, b } c', ['{ a, b }', 'c']],
  ['inline:{ {a b}=c, d=e }', ['inline:{ {a b}=c, d=e }']],
  // Debian's smtpd_forbidden_commands and inline pattern tables (Postfix 3.7)
  ['CONNECT GET POST regexp:{{/^[^A-Z]/ Bogus}}', ['CONNECT', 'GET', 'POST', 'regexp:{{/^[^A-Z]/ Bogus}}']],
  [
    'check_client_access pcre:{ {/^10\\./ OK}, {/x y/ REJECT no, thanks} },reject',
    ['check_client_access', 'pcre:{ {/^10\\./ OK}, {/x y/ REJECT no, thanks} }', 'reject'],
  ],
];

for (const [input, want] of LIST_CASES) {
  test(`splitList ${JSON.stringify(input)}`, () => assert.deepEqual(splitList(input), want));
}

test('unused-parameter warnings on the Debian main.cf: no "unused" for real Postfix names', async () => {
  const main = parseMainCf(await readFile(join(FIXTURES, 'main.cf.debian'), 'utf8'), '/etc/postfix/main.cf');
  const master = parseMasterCf(await readFile(join(FIXTURES, 'master.cf.dist'), 'utf8'), '/etc/postfix/master.cf');
  const r = ParameterRegistry.withCore();
  const warnings = checkUnusedParameters(main, master, r);
  assert.deepEqual(warnings.filter((w) => w.includes('unused parameter')), []);
  assert.deepEqual(warnings, [
    '/etc/postfix/main.cf: parameter smtpd_banner=$myhostname ESMTP $mail_name (Debian/GNU): not supported by the installed Postern packages',
    '/etc/postfix/main.cf: parameter append_dot_mydomain=no: not supported by the installed Postern packages',
    '/etc/postfix/main.cf: parameter readme_directory=no: not supported by the installed Postern packages',
  ]);
  // With smtpd's parameters installed, smtpd_banner is fine.
  assert.equal(checkUnusedParameters(main, master, registry()).length, 2);
});

test('unused-parameter warnings: unknown names, user-defined names, per-service names, -o overrides', () => {
  const main = parseMainCf(
    [
      'foo = bar',
      'mua_client_restrictions = permit_sasl_authenticated, reject',
      'relay_destination_concurrency_limit = 5',
      'uucp_destination_concurrency_limit = 5',
      'helper = x',
      'biff = $helper',
      'smtpd_milters = inet:localhost:8891',
    ].join('\n'),
    '/etc/postfix/main.cf',
  );
  const master = parseMasterCf(
    'submission inet n - n - - smtpd -o smtpd_client_restrictions=$mua_client_restrictions -o bogus_x=1\nrelay unix - - n - - smtp\n',
    '/etc/postfix/master.cf',
  );
  assert.deepEqual(checkUnusedParameters(main, master, registry()), [
    '/etc/postfix/main.cf: unused parameter: foo=bar',
    '/etc/postfix/main.cf: parameter uucp_destination_concurrency_limit=5: not supported by the installed Postern packages',
    '/etc/postfix/main.cf: parameter smtpd_milters=inet:localhost:8891: not supported by the installed Postern packages',
    '/etc/postfix/master.cf: unused parameter: bogus_x=1',
  ]);
});
