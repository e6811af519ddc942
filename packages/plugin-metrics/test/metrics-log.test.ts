/**
 * The log rules, table-driven (Postfix's PTEST_CASE): each line as Postern
 * (or Postfix) writes it, and what it counts; the exposition is read back with
 * an independent Prometheus text-format parser.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { createFamilies } from '../src/metrics-registry.js';
import { observeLine, parseLogLine, rejectReason } from '../src/metrics-log.js';

const H = 'Dec  2 13:49:01 mail.example.test';

type Values = Awaited<ReturnType<Registry['getMetricsAsJSON']>>;

async function countsAfter(lines: readonly string[]): Promise<Values> {
  const registry = new Registry();
  const m = createFamilies(registry);
  for (const l of lines) observeLine(m, l);
  return registry.getMetricsAsJSON();
}

/** The value of the sample `metric` (a family name, or its _count/_sum/_bucket) whose labels include `labels`; 0 when absent. */
function sample(families: Values, metric: string, labels: Record<string, string | number> = {}): number {
  const family = families.find((f) => f.name === metric || metric.startsWith(`${f.name}_`));
  const histogram = String(family?.type) === 'histogram';
  const name = histogram && metric === family!.name ? `${metric}_count` : metric;
  const s = family?.values.find(
    (v: { metricName?: string; labels: Record<string, unknown> }) => (v.metricName ?? family!.name) === name && Object.entries(labels).every(([k, want]) => String(v.labels[k]) === String(want)),
  );
  return s ? Number(s.value) : 0;
}

const CASES: readonly { line: string; name: string; labels?: Record<string, string>; known?: boolean }[] = [
  { line: `${H} postern/smtpd[10]: connect from localhost[127.0.0.1]`, name: 'postfix_smtpd_connects_total' },
  { line: `${H} postfix/smtpd[10]: disconnect from localhost[127.0.0.1] ehlo=1 mail=1 rcpt=1 data=1 quit=1 commands=5`, name: 'postfix_smtpd_disconnects_total' },
  { line: `${H} postern/smtpd[10]: lost connection after DATA from localhost[127.0.0.1]`, name: 'postfix_smtpd_connections_lost_total', labels: { after_stage: 'DATA' } },
  { line: `${H} postern/smtpd[10]: 4dWq0s1Z2bz9abc: client=localhost[127.0.0.1]`, name: 'postfix_smtpd_messages_processed_total', labels: { sasl_method: '' } },
  {
    line: `${H} postern/smtpd[10]: 4dWq0s1Z2bz9abc: client=localhost[127.0.0.1], sasl_method=PLAIN, sasl_username=pfa`,
    name: 'postfix_smtpd_messages_processed_total',
    labels: { sasl_method: 'PLAIN' },
  },
  {
    line: `${H} postern/smtpd[10]: NOQUEUE: reject: RCPT from unknown[127.0.0.2]: 454 4.7.1 <x@elsewhere.test>: Relay access denied; from=<a@b.test> to=<x@elsewhere.test> proto=ESMTP helo=<h>`,
    name: 'postern_smtpd_rejects_total',
    labels: { stage: 'RCPT', code: '454', reason: 'Relay access denied' },
  },
  {
    line: `${H} postern/smtpd[10]: NOQUEUE: reject: RCPT from unknown[127.0.0.2]: 550 5.1.1 <nobody@localhost>: Recipient address rejected: User unknown in local recipient table; from=<a@b.test> to=<nobody@localhost> proto=ESMTP helo=<h>`,
    name: 'postfix_smtpd_messages_rejected_total',
    labels: { code: '550' },
  },
  { line: `${H} postern/smtpd[10]: warning: unknown[127.0.0.1]: SASL PLAIN authentication failed: authentication failure`, name: 'postfix_smtpd_sasl_authentication_failures_total' },
  {
    line: `${H} postern/smtpd[10]: Anonymous TLS connection established from localhost[127.0.0.1]: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)`,
    name: 'postfix_smtpd_tls_connections_total',
    labels: { trust: 'Anonymous', protocol: 'TLSv1.3', secret_bits: '256' },
  },
  { line: `${H} postern/cleanup[11]: 4dWq0s1Z2bz9abc: message-id=<1@example.test>`, name: 'postfix_cleanup_messages_processed_total' },
  { line: `${H} postern/cleanup[11]: 4dWq0s1Z2bz9abc: reject: header Subject: spam from localhost[127.0.0.1]; from=<a@b> to=<c@d>: 5.7.1 no`, name: 'postfix_cleanup_messages_rejected_total' },
  { line: `${H} postern/qmgr[12]: 4dWq0s1Z2bz9abc: from=<a@b.test>, size=2048, nrcpt=3 (queue active)`, name: 'postfix_qmgr_messages_inserted_receipients' },
  { line: `${H} postern/qmgr[12]: 4dWq0s1Z2bz9abc: removed`, name: 'postfix_qmgr_messages_removed_total' },
  { line: `${H} postern/qmgr[12]: 4dWq0s1Z2bz9abc: from=<a@b.test>, status=expired, returned to sender`, name: 'postern_qmgr_messages_expired_total' },
  {
    line: `${H} postern/local[13]: 4dWq0s1Z2bz9abc: to=<root@mail.example.test>, orig_to=<alice@localhost>, relay=local, delay=0.12, delays=0.05/0.01/0/0.06, dsn=2.0.0, status=sent (delivered to mailbox)`,
    name: 'postern_delivery_status_total',
    labels: { transport: 'local', status: 'sent' },
  },
  {
    line: `${H} postfix/relay/smtp[14]: 4dWq0s1Z2bz9abc: to=<x@far.test>, relay=mx.far.test[192.0.2.1]:25, conn_use=2, delay=301, delays=0.1/300/0.4/0.5, dsn=4.4.1, status=deferred (connect to mx.far.test: timed out)`,
    name: 'postern_delivery_status_total',
    labels: { transport: 'relay', status: 'deferred' },
  },
  {
    line: `${H} postern/smtp[14]: 4dWq0s1Z2bz9abc: to=<x@far.test>, relay=mx.far.test[192.0.2.1]:25, delay=1.5, delays=0.1/0.2/0.4/0.8, dsn=2.0.0, status=sent (250 2.0.0 Ok)`,
    name: 'postfix_smtp_delivery_delay_seconds',
    labels: { stage: 'transmission' },
  },
  {
    line: `${H} postern/lmtp[15]: 4dWq0s1Z2bz9abc: to=<u@lmtp.test>, relay=127.0.0.1[127.0.0.1]:24, delay=0.2, delays=0.1/0/0.05/0.05, dsn=2.0.0, status=sent (250 2.0.0 <u@lmtp.test> Saved)`,
    name: 'postfix_lmtp_delivery_delay_seconds',
    labels: { stage: 'connection_setup' },
  },
  {
    line: `${H} postern/pipe[16]: 4dWq0s1Z2bz9abc: to=<u@pipe.test>, relay=filter, delay=0.3, delays=0.1/0/0/0.2, dsn=5.3.0, status=bounced (command line usage error)`,
    name: 'postfix_pipe_delivery_delay_seconds',
    labels: { relay: 'filter', stage: 'transmission' },
  },
  { line: `${H} postern/master[1]: warning: process /opt/postern/libexec/smtpd pid 4242 killed by signal SIGKILL`, name: 'postern_master_process_exits_total', labels: { command: 'smtpd', how: 'signal SIGKILL' } },
  { line: `${H} postern/master[1]: warning: process smtpd pid 4243 exit status 1`, name: 'postern_master_process_exits_total', labels: { command: 'smtpd', how: 'exit 1' } },
  { line: `${H} postern/master[1]: warning: cleanup: bad command startup -- throttling`, name: 'postern_master_throttles_total', labels: { command: 'cleanup' } },
  { line: `${H} postern/smtpd[10]: warning: something nobody counts`, name: 'postfix_unsupported_log_entries_total', labels: { service: 'smtpd' }, known: false },
  { line: `${H} opendkim[20]: 4dWq0s1Z2bz9abc: DKIM-Signature field added`, name: 'postfix_unsupported_log_entries_total', labels: { service: '' }, known: false },
];

for (const c of CASES) {
  test(`counts: ${c.line.slice(H.length + 1, H.length + 80)}`, async () => {
    const families = await countsAfter([c.line]);
    assert.equal(sample(families, c.name, c.labels), 1, `${c.name}${JSON.stringify(c.labels ?? {})}`);
    if (c.known !== false) assert.equal(sample(families, 'postfix_unsupported_log_entries_total'), 0, 'known lines are not unsupported');
  });
}

test('a delivery line feeds the stage histograms and the residence histogram with its delays', async () => {
  const line = `${H} postern/smtp[14]: ID: to=<x@far.test>, relay=mx[192.0.2.1]:25, delay=1.5, delays=0.1/0.2/0.4/0.8, dsn=2.0.0, status=sent (250 Ok)`;
  const f = await countsAfter([line, line]);
  const stage = { stage: 'transmission' };
  assert.equal(sample(f, 'postfix_smtp_delivery_delay_seconds_count', stage), 2);
  assert.equal(sample(f, 'postfix_smtp_delivery_delay_seconds_sum', stage), 1.6);
  assert.equal(sample(f, 'postfix_smtp_delivery_delay_seconds_bucket', { ...stage, le: 0.1 }), 0, 'no transmission stage under 0.1 s');
  assert.equal(sample(f, 'postfix_smtp_delivery_delay_seconds_bucket', { ...stage, le: 1 }), 2);
  assert.equal(sample(f, 'postern_delivery_delay_seconds_sum', { transport: 'smtp', status: 'sent' }), 3);
});

test('the qmgr insert line observes size and recipient count', async () => {
  const f = await countsAfter([`${H} postern/qmgr[12]: ID: from=<a@b.test>, size=2048, nrcpt=3 (queue active)`]);
  assert.equal(sample(f, 'postfix_qmgr_messages_inserted_size_bytes_sum'), 2048);
  assert.equal(sample(f, 'postfix_qmgr_messages_inserted_size_bytes_bucket', { le: 1000 }), 0);
  assert.equal(sample(f, 'postfix_qmgr_messages_inserted_size_bytes_bucket', { le: 10000 }), 1);
  assert.equal(sample(f, 'postfix_qmgr_messages_inserted_receipients_bucket', { le: 2 }), 0);
  assert.equal(sample(f, 'postfix_qmgr_messages_inserted_receipients_bucket', { le: 4 }), 1);
});

test('program names: syslog_name/command and syslog_name/service/command', () => {
  assert.deepEqual(parseLogLine(`${H} postfix/submission/smtpd[1]: connect from x[1.2.3.4]`), {
    daemon: 'smtpd',
    service: 'submission',
    text: 'connect from x[1.2.3.4]',
  });
  assert.deepEqual(parseLogLine('2026-12-02T13:49:01.123456+00:00 mail postern/qmgr[2]: ID: removed'), { daemon: 'qmgr', service: 'qmgr', text: 'ID: removed' });
  assert.equal(parseLogLine(`${H} kernel: something`), undefined);
  assert.equal(parseLogLine(`${H} cron[3]: no slash in the program`), undefined);
});

test('reject reasons lose addresses and bracketed client names, and stay short', () => {
  assert.equal(rejectReason('<x@y.test>: Recipient address rejected: User unknown in local recipient table'), 'Recipient address rejected: User unknown in local recipient table');
  assert.equal(rejectReason('Service unavailable; Client host [192.0.2.7] blocked using zen.example'), 'Service unavailable; Client host blocked using zen.example');
  assert.equal(rejectReason('x'.repeat(200)).length, 80);
});
