/**
 * in_process_services (Postern's own): smtpd with `-o
 * in_process_services=rewrite,cleanup` runs trivial-rewrite and cleanup
 * inside its own process for its own mail. The message is queued and
 * delivered as before; cleanup logs under its own name with smtpd's pid,
 * under the -o overrides of its own master.cf entry; and no process of
 * cleanup's is needed for it. A name that is no service is refused by
 * `postern check`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import { freePort, Instance } from '../lib/instance.js';

const master = (port: number, inProcess: string, checks: string) =>
  [
    `127.0.0.1:${port} inet n - n - - smtpd -o in_process_services=${inProcess}`,
    `cleanup unix n - n - 0 cleanup -o header_checks=regexp:${checks}`,
    'rewrite unix - - n - - trivial-rewrite',
    'qmgr unix n - n 300 1 qmgr',
    'bounce unix - - n - 0 bounce',
    'defer unix - - n - 0 bounce',
    'trace unix - - n - 0 bounce',
    'discard unix - - n - - discard',
    '',
  ].join('\n');

test('smtpd with cleanup and trivial-rewrite in its own process', { timeout: 60_000 }, async () => {
  const port = await freePort();
  const inst = new Instance({ main: { default_transport: 'discard', master_spare_processes: '0' }, master: '' });
  try {
    const checks = join(inst.configDir, 'header_checks');
    writeFileSync(checks, '/^Subject: (.*)/ WARN seen $1\n');
    inst.writeMaster(master(port, 'nosuch', checks));
    const bad = await inst.postern(['check']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /master\.cf service 127\.0\.0\.1:\d+: in_process_services names nosuch: no such master\.cf service/);
    inst.writeMaster(master(port, 'rewrite,cleanup', checks));
    const good = await inst.postern(['check']);
    assert.equal(good.code, 0, good.stderr);

    await inst.start();
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true });
    for (let i = 0; i < 3; i++) {
      await transport.sendMail({ envelope: { from: 'a@example.org', to: [`b${i}@example.org`] }, subject: `hello ${i}`, text: 'hi\n' });
    }
    transport.close();
    for (let i = 0; i < 3; i++) await inst.waitForLog(new RegExp(`discard\\[\\d+\\]: \\w+: to=<b${i}@example\\.org>.*status=sent`));

    const smtpdPids = new Set([...inst.log.matchAll(/\/smtpd\[(\d+)\]: \w+: client=/g)].map((m) => m[1]));
    const cleanupPids = new Set([...inst.log.matchAll(/\/cleanup\[(\d+)\]: \w+: message-id=/g)].map((m) => m[1]));
    assert.equal([...inst.log.matchAll(/\/cleanup\[\d+\]: \w+: message-id=/g)].length, 3);
    assert.deepEqual([...cleanupPids].filter((p) => !smtpdPids.has(p)), [], 'cleanup ran in the smtpd process');
    // cleanup's own -o override applies in smtpd's process
    for (let i = 0; i < 3; i++) assert.match(inst.log, new RegExp(`/cleanup\\[\\d+\\]: \\w+: warning: header Subject: hello ${i} from .*: seen hello ${i}`));
    assert.doesNotMatch(inst.log, /connect to (cleanup|rewrite) service/);
  } finally {
    await inst.dispose();
  }
});
