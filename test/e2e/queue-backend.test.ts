/**
 * A second queue backend from a third-party package: the test fixture
 * postern-plugin-queue-files (test/fixtures/plugins: one JSON file per
 * message, every write fsynced) declares `backends: { queue: { files } }`,
 * and main.cf's `queue_backend = files` alone selects it. SMTP in, local mbox
 * out under the real master: every service that opens the queue (cleanup,
 * qmgr, local, bounce) opens that store, and the embedded LMDB queue is never
 * created.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import { FIXTURES } from '../lib/instance.js';
import { parseMbox, parseMboxSettled } from '../lib/mbox.js';
import { startSystem, type MailSystem } from '../lib/system.js';
import { waitFor } from '../lib/wait.js';

describe('queue_backend = files: a queue store from a plugin package', () => {
  let sys: MailSystem;
  let filesDir: string;

  before(async () => {
    sys = await startSystem({
      aliases: 'postmaster: root\nalice: root\nbob: root\n',
      // the loader's plugin path: the fixture package is found there, nothing is installed into node_modules
      main: {
        daemon_directory: join(FIXTURES, 'plugins'),
        queue_backend: 'files',
        smtpd_recipient_restrictions: 'check_recipient_access inline:{ bob@localhost=HOLD }, permit_mynetworks, reject_unauth_destination',
      },
    });
    filesDir = join(sys.inst.queueDir, 'files');
  });
  after(async () => {
    if (process.env['KEEP_LOG']) console.log(sys?.inst.log);
    await sys?.inst.dispose();
  });

  test('SMTP in, local mailbox out, every queue operation through the files backend', async () => {
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: sys.smtpPort, secure: false, ignoreTLS: true });
    const info = await transport.sendMail({
      envelope: { from: 'sender@example.org', to: ['alice@localhost'] },
      from: 'Sender <sender@example.org>',
      to: 'alice@localhost',
      subject: 'through the files queue',
      text: 'Kept in a JSON file on its way.\n',
    });
    assert.match(info.response, /^250 2\.0\.0 Ok: queued as \w+$/);
    const queueId = info.response.split(' ').pop()!;
    const mbox = join(sys.mailDir, 'root');
    await waitFor('delivery to root', () => (existsSync(mbox) && parseMboxSettled(sys.mbox('root')).length > 0 ? true : undefined));
    const [msg] = parseMbox(sys.mbox('root'));
    assert.equal(msg!.headers.get('subject')?.[0], 'through the files queue');
    assert.deepEqual(msg!.headers.get('return-path'), ['<sender@example.org>']);
    assert.match(msg!.headers.get('received')![0]!, new RegExp(`with E?SMTP id ${queueId}`));
    assert.match(msg!.body, /^Kept in a JSON file on its way\.$/m);
    await sys.inst.waitForLog(new RegExp(`${queueId}: to=<root@mail\\.example\\.test>, orig_to=<alice@localhost>, relay=local, .*status=sent \\(delivered to mailbox\\)`));
    await sys.inst.waitForLog(new RegExp(`${queueId}: removed`));

    // the files backend held it: its directories exist, and the message, its content and its logs are gone with it
    for (const d of ['msg', 'content', 'log', 'tmp', 'lock']) assert.ok(existsSync(join(filesDir, d)), `${d}/ of the files backend`);
    assert.deepEqual(readdirSync(join(filesDir, 'msg')), []);
    assert.deepEqual(readdirSync(join(filesDir, 'content')), []);
    assert.deepEqual(readdirSync(join(filesDir, 'lock')), [], 'no lock left behind');
    // and the embedded queue was never opened
    assert.ok(!existsSync(join(sys.inst.queueDir, 'queue.lmdb')), 'no LMDB queue under queue_directory');
  });

  test('a held message: listed by postern queue (showq reads the files backend), deleted by postern super', async () => {
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: sys.smtpPort, secure: false, ignoreTLS: true });
    const info = await transport.sendMail({ envelope: { from: 'sender@example.org', to: ['bob@localhost'] }, raw: 'Subject: hold me\n\nheld.\n' });
    const queueId = info.response.split(' ').pop()!;
    // smtpd logs the HOLD action at RCPT (NOQUEUE); the message is then a JSON file of the files backend, in the hold queue
    const file = join(filesDir, 'msg', `${queueId}.json`);
    const queued = await waitFor('the held message file', () => (existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as { queue: string; sender: string }) : undefined));
    assert.equal(queued.queue, 'hold');
    assert.equal(queued.sender, 'sender@example.org');
    const list = await sys.inst.postern(['queue', '-p']);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, new RegExp(`^${queueId}!\\s+\\d+ `, 'm'), list.stdout);
    assert.match(list.stdout, /bob@localhost/);
    const del = await sys.inst.postern(['super', '-d', queueId]);
    assert.equal(del.code, 0, del.stderr);
    assert.match(del.stderr, /Deleted: 1 message/);
    assert.ok(!existsSync(join(filesDir, 'msg', `${queueId}.json`)));
    assert.deepEqual(readdirSync(join(filesDir, 'content')), []);
    assert.ok(!existsSync(join(sys.inst.queueDir, 'queue.lmdb')), 'no LMDB queue under queue_directory');
  });
});
