/**
 * core's delivery status filter (*_delivery_status_filter, Postfix's
 * dsn_filter.c) over real table files of this package: the filter opened
 * from main.cf as a delivery agent opens it, then core's reportStatus() with
 * a bounce service stand-in, checking what is logged, which delivery log the
 * record goes to, and what goes back to qmgr.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createConfigView,
  MemoryLogger,
  openDeliveryStatusFilter,
  ParameterRegistry,
  parseMainCf,
  reportStatus,
  type BounceService,
  type ConfigView,
  type DeliveryLogName,
  type DeliveryStatusFilter,
  type RecipientResult,
} from '@postern/core';
import { createTableRegistry } from '../src/index.js';

const FILTER = 'smtp_delivery_status_filter';
const SMTP_PARAMS = [{ name: FILTER, default: '$default_delivery_status_filter', type: 'table' as const }];

interface Rig {
  readonly dir: string;
  readonly log: MemoryLogger;
  readonly appends: { log: DeliveryLogName; status: string; action: string; reason: string }[];
  config(main: Record<string, string>): ConfigView;
  filter(main: Record<string, string>): DeliveryStatusFilter | undefined;
  report(filter: DeliveryStatusFilter | undefined, result: RecipientResult, softBounce?: boolean): Promise<RecipientResult>;
  close(): void;
}

function rig(): Rig {
  const dir = mkdtempSync(join(tmpdir(), 'postern-dsn-filter-'));
  const log = new MemoryLogger();
  const appends: Rig['appends'] = [];
  const bounce: BounceService = {
    async append(l, _id, record) {
      appends.push({ log: l, status: record.status, action: record.action, reason: record.reason });
    },
    async notify() {
      return { count: 0 };
    },
  } as BounceService;
  const tables = createTableRegistry({ log });
  const r: Rig = {
    dir,
    log,
    appends,
    config(main) {
      const registry = ParameterRegistry.withCore();
      registry.declare('@postern/plugin-smtp', SMTP_PARAMS);
      const text = Object.entries(main).map(([k, v]) => `${k} = ${v}\n`).join('');
      return createConfigView({ registry, configDirectory: dir, mainCf: parseMainCf(text) });
    },
    filter(main) {
      return openDeliveryStatusFilter(r.config(main), () => tables, FILTER, log);
    },
    report(filter, result, softBounce = false) {
      return reportStatus(
        { log, bounce, statusFilter: filter, softBounce },
        { queueId: '4F00D1234', recipient: { index: 0, address: 'user@example.test' }, result, times: { arrival: Date.now() - 50 }, relay: 'mx.example.test[192.0.2.1]:25' },
      );
    },
    close: () => rmSync(dir, { recursive: true, force: true }),
  };
  return r;
}

/** A regexp: (or pcre:) table file in the rig's directory; its main.cf value. */
function regexpTable(r: Rig, name: string, lines: readonly string[], type = 'regexp'): string {
  const file = join(r.dir, name);
  writeFileSync(file, lines.join('\n') + '\n');
  return `${type}:${file}`;
}

const bounced = (dsn: string, reason: string): RecipientResult => ({ index: 0, status: 'bounced', dsn, reason, diagnostic: `smtp; 550 ${dsn} ${reason}` });
const deferred = (dsn: string, reason: string): RecipientResult => ({ index: 0, status: 'deferred', dsn, reason });

test('a 5.X.X the filter turns into 4.X.X is a deferral: logged status=deferred, recorded in the defer log, deferred to qmgr', async () => {
  const r = rig();
  try {
    const spec = regexpTable(r, 'smtp_dsn_filter', ['/^5(\\.1\\.1 .*no such user.*)/ 4$1 (filtered)']);
    const f = r.filter({ smtp_delivery_status_filter: spec });
    assert.ok(f);
    const out = await r.report(f, bounced('5.1.1', 'host mx said: 550 5.1.1 no such user'));
    assert.deepEqual([out.status, out.dsn, out.reason, out.action], ['deferred', '4.1.1', 'host mx said: 550 5.1.1 no such user (filtered)', 'delayed']);
    assert.equal(out.diagnostic, 'smtp; 550 5.1.1 host mx said: 550 5.1.1 no such user', 'the Diagnostic-Code stays');
    assert.deepEqual(r.appends, [{ log: 'defer', status: '4.1.1', action: 'delayed', reason: 'host mx said: 550 5.1.1 no such user (filtered)' }]);
    assert.equal(r.log.lines.length, 1, r.log.lines.join('\n'));
    assert.match(r.log.lines[0]!, /^4F00D1234: to=<user@example\.test>, relay=mx\.example\.test\[192\.0\.2\.1\]:25, delay=[\d.]+, delays=[\d./]+, dsn=4\.1\.1, status=deferred \(host mx said: 550 5\.1\.1 no such user \(filtered\)\)$/);
  } finally {
    r.close();
  }
});

test('a 4.X.X the filter turns into 5.X.X is a bounce: bounce log, status=bounced; the default_delivery_status_filter applies through $default_delivery_status_filter', async () => {
  const r = rig();
  try {
    // postconf(5)'s example 1
    const spec = regexpTable(r, 'dsn_filter', ['/^4(\\.\\d+\\.\\d+ TLS is required, but was not offered by host .+)/', '    5$1'], 'pcre');
    const f = r.filter({ default_delivery_status_filter: spec });
    assert.equal(f?.name, FILTER);
    const out = await r.report(f, deferred('4.7.4', 'TLS is required, but was not offered by host mx[192.0.2.1]'));
    assert.deepEqual([out.status, out.dsn, out.reason, out.action], ['bounced', '5.7.4', 'TLS is required, but was not offered by host mx[192.0.2.1]', 'failed']);
    assert.deepEqual(r.appends.map((a) => [a.log, a.status, a.action]), [['bounce', '5.7.4', 'failed']]);
    assert.match(r.log.lines[0]!, /, dsn=5\.7\.4, status=bounced \(TLS is required, but was not offered by host mx\[192\.0\.2\.1\]\)$/);
  } finally {
    r.close();
  }
});

test('no match leaves the status as it is; a success maps only to a success (postconf(5) example 2)', async () => {
  const r = rig();
  try {
    const spec = regexpTable(r, 'local_dsn_filter', ['/^(2\\S+ delivered to command).+/ $1', '/^5\\.9\\.9 / 4.9.9 never']);
    const f = r.filter({ smtp_delivery_status_filter: spec });
    const original = bounced('5.1.1', 'user unknown');
    const same = await r.report(f, original);
    assert.equal(same, original);
    assert.match(r.log.lines[0]!, /, dsn=5\.1\.1, status=bounced \(user unknown\)$/);
    assert.deepEqual(r.appends.map((a) => a.log), ['bounce']);

    const sent: RecipientResult = { index: 0, status: 'sent', dsn: '2.0.0', reason: 'delivered to command: /usr/local/bin/secret --flag', action: 'delivered' };
    const out = await r.report(f, sent);
    assert.deepEqual([out.status, out.dsn, out.reason, out.action], ['sent', '2.0.0', 'delivered to command', 'delivered']);
    assert.match(r.log.lines[1]!, /, dsn=2\.0\.0, status=sent \(delivered to command\)$/);
    assert.equal(r.log.lines.filter((l) => l.startsWith('warning:')).length, 0);
  } finally {
    r.close();
  }
});

test('a malformed result is logged as a warning and the original status stands', async () => {
  const cases: { name: string; input: RecipientResult; result: string; warning: string }[] = [
    { name: 'failure into success', input: bounced('5.1.1', 'user unknown'), result: '2.0.0 fine after all', warning: 'bad status code: 2.0.0 fine after all' },
    { name: 'success into failure', input: { index: 0, status: 'sent', dsn: '2.0.0', reason: 'ok' }, result: '5.0.0 no', warning: 'bad status code: 5.0.0 no' },
    { name: 'no status code', input: deferred('4.4.1', 'connection timed out'), result: 'try later', warning: 'bad status code: try later' },
    { name: 'a reply code, not an enhanced code', input: deferred('4.4.1', 'connection timed out'), result: '550 gone', warning: 'bad status code: 550 gone' },
    { name: 'a code with too many digits', input: deferred('4.4.1', 'connection timed out'), result: '5.4.1000 gone', warning: 'bad status code: 5.4.1000 gone' },
    { name: 'a code with no text', input: deferred('4.4.1', 'connection timed out'), result: '5.4.1', warning: 'empty explanatory text: 5.4.1' },
  ];
  for (const c of cases) {
    const r = rig();
    try {
      const query = `${c.input.dsn} ${c.input.reason}`.replace(/[.\\^$|()[\]{}*+?/]/g, '\\$&');
      const spec = regexpTable(r, 'bad_filter', [`/^${query}$/ ${c.result}`]);
      const out = await r.report(r.filter({ smtp_delivery_status_filter: spec }), c.input);
      assert.equal(out, c.input, c.name);
      assert.deepEqual(r.log.lines.filter((l) => l.startsWith('warning:')), [`warning: ${FILTER}: ${c.warning}`], c.name);
      assert.match(r.log.lines.find((l) => !l.startsWith('warning:'))!, new RegExp(`dsn=${c.input.dsn.replace(/\./g, '\\.')}, status=${c.input.status} `), c.name);
    } finally {
      r.close();
    }
  }
});

test('soft_bounce still defers what the filter turned into a bounce, and the filter is applied once', async () => {
  const r = rig();
  try {
    // were the soft-bounced 4.4.1 filtered again, it would come back 5.4.1
    const spec = regexpTable(r, 'harden', ['/^4(\\.4\\.1 .*)/ 5$1']);
    const out = await r.report(r.filter({ smtp_delivery_status_filter: spec }), deferred('4.4.1', 'connection timed out'), true);
    assert.deepEqual([out.status, out.dsn, out.action], ['deferred', '4.4.1', 'delayed']);
    assert.deepEqual(r.appends.map((a) => [a.log, a.status]), [['defer', '4.4.1']]);
    assert.equal(r.log.lines.length, 1);
  } finally {
    r.close();
  }
});

test('opening: empty means no filter; several tables, first match wins; a table that cannot be opened is skipped with a warning', async () => {
  const r = rig();
  try {
    assert.equal(r.filter({}), undefined);
    assert.equal(r.filter({ default_delivery_status_filter: 'regexp:/nonexistent', smtp_delivery_status_filter: '' }), undefined);
    const first = regexpTable(r, 'first', ['/^5\\.1\\.1 / 4.1.1 from the first table']);
    const second = regexpTable(r, 'second', ['/^5\\.1\\.1 / 5.1.10 from the second table', '/^5\\.2\\.2 / 4.2.2 from the second table']);
    const f = r.filter({ smtp_delivery_status_filter: `nosuchtype:/x, ${first} ${second}` });
    assert.equal(f?.tables.length, 2);
    assert.equal(r.log.lines.filter((l) => l.startsWith(`warning: ${FILTER}: nosuchtype:/x: `)).length, 1, r.log.lines.join('\n'));
    assert.equal((await r.report(f, bounced('5.1.1', 'a'))).reason, 'from the first table');
    assert.equal((await r.report(f, bounced('5.2.2', 'b'))).reason, 'from the second table');
  } finally {
    r.close();
  }
});
