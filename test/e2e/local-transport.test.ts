/**
 * local(8) mailbox_transport and fallback_transport under the real master:
 * local hands the recipient to the lmtp(8) delivery agent of master.cf
 * (deliver_pass), which delivers into a recording LMTP server. lmtp(8)
 * logs the recipient's status line; local(8) passes its answer on to qmgr
 * without logging a second one. A transport that master.cf lacks defers
 * with "mail transport unavailable".
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import nodemailer from 'nodemailer';
import { SMTPServer } from 'smtp-server';
import { freePort } from '../lib/instance.js';
import { startSystem, type MailSystem } from '../lib/system.js';
import { waitFor } from '../lib/wait.js';

interface Got {
  readonly from: string;
  readonly to: string[];
  readonly data: string;
}

interface Recorder {
  readonly port: number;
  readonly got: Got[];
  close(): Promise<void>;
}

/** An LMTP server on 127.0.0.1 that keeps what it receives; RCPT TO `later@...` gets 452. */
async function lmtpRecorder(): Promise<Recorder> {
  const got: Got[] = [];
  const server = new SMTPServer({
    lmtp: true,
    logger: false,
    disableReverseLookup: true,
    authOptional: true,
    hideSTARTTLS: true,
    onRcptTo(address, _session, cb) {
      if (!address.address.startsWith('later@')) return cb();
      cb(Object.assign(new Error('4.2.2 mailbox full, try later'), { responseCode: 452 }));
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        got.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          data: Buffer.concat(chunks).toString('utf8'),
        });
        cb();
      });
    },
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { port, got, close: () => new Promise<void>((r) => server.close(() => r())) };
}

async function waitForAsync<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const LMTP_MASTER = 'lmtp      unix - - n - -   lmtp\n';

async function send(sys: MailSystem, to: string[], subject: string): Promise<string> {
  const transport = nodemailer.createTransport({ host: '127.0.0.1', port: sys.smtpPort, ignoreTLS: true });
  const info = await transport.sendMail({ envelope: { from: 'sender@example.test', to }, raw: `From: sender@example.test\nSubject: ${subject}\n\nbody of ${subject}\n` });
  transport.close();
  return info.response.split(' ').pop()!;
}

/** The status= lines of `queueId` in the log. */
const statusLines = (sys: MailSystem, queueId: string): string[] =>
  sys.inst.log.split('\n').filter((l) => l.includes(`${queueId}: to=<`) && l.includes(' status='));

describe('local(8) mailbox_transport = lmtp:inet:127.0.0.1:PORT', () => {
  let sys: MailSystem;
  let lmtp: Recorder;
  before(async () => {
    lmtp = await lmtpRecorder();
    sys = await startSystem({
      aliases: 'postmaster: root\nalice: root\n',
      extraMaster: LMTP_MASTER,
      // mailbox_transport takes precedence over mailbox_command and home_mailbox
      main: { mailbox_transport: `lmtp:inet:127.0.0.1:${lmtp.port}`, mailbox_command: '/bin/sh -c "exit 75"', home_mailbox: 'Mailbox', local_recipient_maps: '' },
    });
  });
  after(async () => {
    await sys?.inst.dispose();
    await lmtp?.close();
  });

  test('an aliased passwd user and a user not in passwd both go to the LMTP server, one status line each', async () => {
    const id = await send(sys, ['alice@localhost', 'nosuchuser@localhost'], 'via mailbox_transport');
    await waitFor('two LMTP deliveries', () => (lmtp.got.length >= 2 ? true : undefined));
    const rcpts = lmtp.got.flatMap((g) => g.to).sort();
    assert.equal(rcpts.length, 2);
    assert.match(rcpts[0]!, /^nosuchuser@localhost$/);
    assert.match(rcpts[1]!, /^root@/, 'the alias is expanded before mailbox_transport');
    for (const g of lmtp.got) {
      assert.equal(g.from, 'sender@example.test');
      assert.match(g.data, /Subject: via mailbox_transport/);
    }
    await sys.inst.waitForLog(new RegExp(`${id}: removed`));
    const lines = statusLines(sys, id);
    assert.equal(lines.length, 2, lines.join('\n'));
    const alice = lines.find((l) => l.includes('orig_to=<alice@localhost>'));
    assert.match(alice ?? '', new RegExp(`to=<root@[^>]+>, orig_to=<alice@localhost>, relay=127\\.0\\.0\\.1\\[127\\.0\\.0\\.1\\]:${lmtp.port}, .*status=sent \\(250 `));
    assert.ok(lines.some((l) => /to=<nosuchuser@localhost>, relay=127\.0\.0\.1\[.*status=sent/.test(l)), lines.join('\n'));
    assert.ok(!lines.some((l) => l.includes('relay=local')), 'local(8) logs no status line of its own');
  });

  test('a deferral by the LMTP server: one status=deferred line (lmtp), the defer log has its reason', async () => {
    const id = await send(sys, ['later@localhost'], 'deferred by lmtp');
    await sys.inst.waitForLog(new RegExp(`${id}: to=<later@localhost>, relay=127\\.0\\.0\\.1\\[.*status=deferred \\(.*452`));
    const row = await waitForAsync('the message in the deferred queue', async () => {
      const j = await sys.inst.postern(['queue', '-j']);
      const rows = j.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { queue_name: string; queue_id: string; recipients: { address: string; delay_reason?: string }[] });
      return rows.find((r) => r.queue_id === id && r.queue_name === 'deferred');
    });
    assert.match(row.recipients[0]?.delay_reason ?? '', /452 .*mailbox full/);
    const lines = statusLines(sys, id);
    assert.equal(lines.length, 1, lines.join('\n'));
    assert.ok(!lines[0]!.includes('relay=local'));
  });
});

describe('local(8) fallback_transport and an unknown transport', () => {
  let sys: MailSystem;
  let lmtp: Recorder;
  before(async () => {
    lmtp = await lmtpRecorder();
    sys = await startSystem({
      extraMaster: LMTP_MASTER,
      main: {
        fallback_transport: `lmtp:inet:127.0.0.1:${lmtp.port}`,
        mailbox_transport_maps: 'inline:{ ghost=nosuch }',
        local_recipient_maps: '',
      },
    });
  });
  after(async () => {
    await sys?.inst.dispose();
    await lmtp?.close();
  });

  test('a user not in passwd goes to fallback_transport; a passwd user still gets the mailbox', async () => {
    const id = await send(sys, ['stranger@localhost', 'root@localhost'], 'via fallback_transport');
    await waitFor('the LMTP delivery', () => (lmtp.got.length >= 1 ? true : undefined));
    assert.deepEqual(lmtp.got.flatMap((g) => g.to), ['stranger@localhost']);
    assert.match(lmtp.got[0]!.data, /Subject: via fallback_transport/);
    await sys.inst.waitForLog(new RegExp(`${id}: removed`));
    assert.match(sys.mbox('root'), /Subject: via fallback_transport/);
    const lines = statusLines(sys, id);
    assert.equal(lines.length, 2, lines.join('\n'));
    assert.ok(lines.some((l) => /to=<stranger@localhost>, relay=127\.0\.0\.1\[.*status=sent/.test(l)), lines.join('\n'));
    assert.ok(lines.some((l) => /to=<root@localhost>, relay=local, .*status=sent/.test(l)), lines.join('\n'));
  });

  test('mailbox_transport_maps naming a transport master.cf lacks: deferred, mail transport unavailable', async () => {
    const id = await send(sys, ['ghost@localhost'], 'to nowhere');
    await sys.inst.waitForLog(new RegExp(`${id}: to=<ghost@localhost>, relay=local, .*status=deferred \\(mail transport unavailable\\)`));
    await sys.inst.waitForLog(/warning: connect to transport private\/nosuch: /);
    assert.equal(statusLines(sys, id).length, 1);
    assert.equal(lmtp.got.length, 1, 'nothing more reached the LMTP server');
  });
});
