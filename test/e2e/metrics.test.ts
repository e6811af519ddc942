/**
 * The metrics service under the real master: a load of SMTP mail (delivered,
 * rejected, held), then a scrape parsed by Prometheus's own text-format
 * parser (Python's prometheus_client), whose counts must equal what the mail
 * log says happened.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import { freePort } from '../lib/instance.js';
import { startSystem, type MailSystem } from '../lib/system.js';

const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
const PARSER = `
import json, sys
from prometheus_client.parser import text_string_to_metric_families
print(json.dumps([[s.name, s.labels, s.value] for f in text_string_to_metric_families(sys.stdin.read()) for s in f.samples]))
`;
const hasParser = spawnSync(PYTHON, ['-c', 'import prometheus_client.parser']).status === 0;

type Sample = [name: string, labels: Record<string, string>, value: number];

async function scrape(port: number, path = '/metrics'): Promise<{ status: number; type: string; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: await res.text() };
}

/** The exposition through prometheus_client's parser: it throws on anything that is not the text format. */
function parse(body: string): Sample[] {
  const r = spawnSync(PYTHON, ['-c', PARSER], { input: body, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`prometheus_client rejected the exposition: ${r.stderr}`);
  return JSON.parse(r.stdout) as Sample[];
}

function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  return samples
    .filter(([n, l]) => n === name && Object.entries(labels).every(([k, v]) => l[k] === v))
    .reduce((sum, [, , v]) => sum + v, 0);
}

async function until(what: string, probe: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('metrics: a Prometheus scrape agrees with the mail log', { skip: hasParser ? false : 'no python3 prometheus_client (Debian python3-prometheus-client)' }, () => {
  let sys: MailSystem;
  let port: number;
  const log = () => (existsSync(sys.inst.logFile) ? readFileSync(sys.inst.logFile, 'utf8') : '');

  before(async () => {
    port = await freePort();
    sys = await startSystem({
      aliases: 'postmaster: root\nalice: root\n',
      extraMaster: `127.0.0.1:${port} inet n - n - 1 metrics\n`,
      before: (inst) => {
        const checks = join(inst.configDir, 'header_checks');
        writeFileSync(checks, '/^Subject: hold me/ HOLD\n');
        return { header_checks: `regexp:${checks}` };
      },
      // start-fg sends the log to stdout; the daemon writes maillog_file, which metrics follows
      daemon: true,
    });
  });
  after(async () => {
    await sys?.inst.dispose();
  });

  test('counts deliveries, rejections, connections and queue sizes as the log has them', async () => {
    const first = await scrape(port);
    assert.equal(first.status, 200);
    assert.match(first.type, /^text\/plain; version=0\.0\.4/);
    const from = log().length;
    const before = parse(first.body);

    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: sys.smtpPort, secure: false, ignoreTLS: true });
    const sent = 12;
    for (let i = 0; i < sent; i++) {
      await transport.sendMail({ envelope: { from: 'load@example.org', to: ['alice@localhost'] }, subject: `load ${i}`, text: `message ${i}\n` });
    }
    await transport.sendMail({ envelope: { from: 'load@example.org', to: ['alice@localhost'] }, subject: 'hold me', text: 'held\n' });
    for (let i = 0; i < 3; i++) {
      await assert.rejects(
        transport.sendMail({ envelope: { from: 'load@example.org', to: [`nobody${i}@localhost`] }, subject: 'x', text: 'x\n' }),
        /550 5\.1\.1/,
      );
    }
    transport.close();
    const since = () => log().slice(from);
    const lines = (re: RegExp) => since().split('\n').filter((l) => re.test(l)).length;
    await until(`${sent} local deliveries`, () => lines(/postfix\/local\[\d+\]: \w+: to=.*status=sent/) >= sent);
    await until('the held message', () => lines(/postfix\/cleanup\[\d+\]: \w+: hold: /) >= 1);
    await until('the last disconnect', () => lines(/postfix\/smtpd\[\d+\]: disconnect from /) >= lines(/postfix\/smtpd\[\d+\]: connect from /));

    const after = parse((await scrape(port)).body);
    const delta = (name: string, labels: Record<string, string> = {}) => value(after, name, labels) - value(before, name, labels);
    assert.equal(delta('postern_delivery_status_total', { transport: 'local', status: 'sent' }), lines(/postfix\/local\[\d+\]: .*status=sent/));
    assert.equal(delta('postern_delivery_status_total', { transport: 'local', status: 'sent' }), sent);
    assert.equal(delta('postfix_smtpd_connects_total'), lines(/postfix\/smtpd\[\d+\]: connect from /));
    assert.equal(delta('postfix_smtpd_disconnects_total'), lines(/postfix\/smtpd\[\d+\]: disconnect from /));
    assert.equal(delta('postfix_smtpd_messages_processed_total'), lines(/postfix\/smtpd\[\d+\]: \w+: client=/));
    assert.equal(delta('postfix_smtpd_messages_processed_total'), sent + 1);
    assert.equal(delta('postfix_smtpd_messages_rejected_total', { code: '550' }), 3);
    assert.equal(delta('postern_smtpd_rejects_total', { stage: 'RCPT', reason: 'Recipient address rejected: User unknown in local recipient table' }), 3);
    assert.equal(delta('postfix_cleanup_messages_processed_total'), lines(/postfix\/cleanup\[\d+\]: \w+: message-id=/));
    assert.equal(delta('postfix_qmgr_messages_removed_total'), lines(/postfix\/qmgr\[\d+\]: \w+: removed/));
    assert.equal(delta('postfix_qmgr_messages_inserted_size_bytes_count'), lines(/postfix\/qmgr\[\d+\]: \w+: from=<.*, size=\d+, nrcpt=/));
    assert.equal(delta('postern_delivery_delay_seconds_count', { transport: 'local', status: 'sent' }), sent);
    assert.equal(value(after, 'postern_queue_messages', { queue: 'hold' }), 1, 'the held message is counted in hold');
    assert.equal(value(after, 'postern_queue_messages', { queue: 'deferred' }), 0);
    assert.equal(value(after, 'postfix_up'), 1);
  });

  test('other paths and methods get HTTP errors, and the service keeps serving', async () => {
    assert.equal((await scrape(port, '/')).status, 404);
    const post = await fetch(`http://127.0.0.1:${port}/metrics`, { method: 'POST', body: 'x' });
    assert.equal(post.status, 405);
    assert.equal((await scrape(port)).status, 200);
  });
});
