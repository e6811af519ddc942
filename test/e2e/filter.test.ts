/**
 * After-queue content filtering (FILTER_README) through the real master:
 * content_filter = scan:[127.0.0.1]:PORT sends every new message through the
 * smtp transport "scan" to a filter (an SMTP proxy written here that adds a
 * header), which re-injects it into a second smtpd service with
 * -o content_filter= and -o receive_override_options=...; qmgr routes the
 * first queue file to the filter and the second to local(8), once each.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import { SMTPServer } from 'smtp-server';
import { freePort } from '../lib/instance.js';
import { parseMbox, parseMboxSettled } from '../lib/mbox.js';
import { startSystem, type MailSystem } from '../lib/system.js';
import { waitFor } from '../lib/wait.js';

describe('content_filter: after-queue filtering and re-injection', () => {
  let sys: MailSystem;
  let filter: SMTPServer;
  let lmtpFilter: SMTPServer;
  const filtered: { from: string; to: string[] }[] = [];
  const lmtpFiltered: { from: string; to: string[] }[] = [];

  /** An SMTP (or LMTP) proxy: takes the message, adds a header, re-injects it, then answers. */
  function proxy(lmtp: boolean, seen: { from: string; to: string[] }[], reinjectPort: number, header: string): SMTPServer {
    const reinject = nodemailer.createTransport({ host: '127.0.0.1', port: reinjectPort, secure: false, ignoreTLS: true });
    return new SMTPServer({
      lmtp,
      authOptional: true,
      disabledCommands: ['STARTTLS', 'AUTH'],
      logger: false,
      onData(stream, session, callback) {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          const envelope = { from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '', to: session.envelope.rcptTo.map((r) => r.address) };
          seen.push(envelope);
          const raw = `${header}\r\n${Buffer.concat(chunks).toString('utf8')}`;
          reinject.sendMail({ envelope, raw }).then(
            () => callback(),
            (err: Error) => callback(Object.assign(new Error(`re-injection failed: ${err.message}`), { responseCode: 451 })),
          );
        });
      },
    });
  }

  before(async () => {
    const filterPort = await freePort();
    const reinjectPort = await freePort();
    filter = proxy(false, filtered, reinjectPort, 'X-Filtered: by the test filter');
    lmtpFilter = proxy(true, lmtpFiltered, reinjectPort, 'X-Filtered: by the LMTP filter');
    const lmtpPort = await freePort();
    await new Promise<void>((r) => lmtpFilter.listen(lmtpPort, '127.0.0.1', r));
    await new Promise<void>((r) => filter.listen(filterPort, '127.0.0.1', r));
    sys = await startSystem({
      aliases: 'postmaster: root\nalice: root\ncarol: root\n',
      before: (inst) => {
        // header_checks would reject the filter's header: the re-injection service skips them
        writeFileSync(join(inst.configDir, 'header_checks'), '/^X-Filtered:/ REJECT filtered twice\n');
        return {
          content_filter: `scan:[127.0.0.1]:${filterPort}`,
          // a FILTER action overrides content_filter for this recipient's mail
          smtpd_recipient_restrictions: `check_recipient_access inline:{ {carol@localhost=FILTER lmtp:inet:127.0.0.1:${lmtpPort}} }, permit_mynetworks, reject`,
          header_checks: `regexp:${join(inst.configDir, 'header_checks')}`,
        };
      },
      extraMaster: `lmtp      unix  -       -       n       -       -       lmtp
scan      unix  -       -       n       -       10      smtp
    -o smtp_send_xforward_command=yes
    -o disable_mime_output_conversion=yes
127.0.0.1:${reinjectPort} inet n  -       n       -       10      smtpd
    -o content_filter=
    -o receive_override_options=no_unknown_recipient_checks,no_header_body_checks,no_milters
    -o smtpd_helo_restrictions=
    -o smtpd_client_restrictions=
    -o smtpd_sender_restrictions=
    -o smtpd_recipient_restrictions=permit_mynetworks,reject
    -o mynetworks=127.0.0.0/8
`,
    });
  });
  after(async () => {
    await sys?.inst.dispose();
    await new Promise<void>((r) => filter.close(() => r()));
    await new Promise<void>((r) => lmtpFilter.close(() => r()));
  });

  test('a message goes through the filter once and is delivered with its header', async () => {
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: sys.smtpPort, secure: false, ignoreTLS: true });
    const info = await transport.sendMail({
      envelope: { from: 'sender@example.org', to: ['alice@localhost'] },
      raw: 'From: sender@example.org\r\nTo: alice@localhost\r\nSubject: filter me\r\n\r\nbody\r\n',
    });
    const firstId = info.response.split(' ').pop()!;
    const mbox = join(sys.mailDir, 'root');
    await waitFor('delivery to root', () => (existsSync(mbox) && parseMboxSettled(sys.mbox('root')).length > 0 ? true : undefined)).catch((e: Error) => {
      throw new Error(`${e.message}; log:\n${sys.inst.log}`);
    });
    const msgs = parseMbox(sys.mbox('root'));
    assert.equal(msgs.length, 1);
    assert.deepEqual(msgs[0]!.headers.get('x-filtered'), ['by the test filter']);
    assert.equal(msgs[0]!.headers.get('subject')?.[0], 'filter me');
    assert.deepEqual(filtered, [{ from: 'sender@example.org', to: ['alice@localhost'] }], 'the filter saw the message once');
    // the first queue file went to the filter through the scan transport, then was removed
    await sys.inst.waitForLog(new RegExp(`${firstId}: to=<alice@localhost>, relay=127\\.0\\.0\\.1\\[127\\.0\\.0\\.1\\]:\\d+, .*status=sent`));
    await sys.inst.waitForLog(new RegExp(`${firstId}: removed`));
    // the re-injected copy has another queue ID and went to local(8)
    const local = await sys.inst.waitForLog(/(\w+): to=<root@mail\.example\.test>, orig_to=<alice@localhost>, relay=local, .*status=sent/);
    assert.notEqual(local[1], firstId);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(filtered.length, 1, 'no loop: the re-injected copy is not filtered again');
  });

  test('a FILTER access action sends the message through an LMTP next hop instead', async () => {
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: sys.smtpPort, secure: false, ignoreTLS: true });
    const info = await transport.sendMail({
      envelope: { from: 'sender@example.org', to: ['carol@localhost'] },
      raw: 'From: sender@example.org\r\nTo: carol@localhost\r\nSubject: lmtp filter\r\n\r\nbody\r\n',
    });
    const id = info.response.split(' ').pop()!;
    await sys.inst.waitForLog(new RegExp(`${id}: to=<carol@localhost>, relay=127\\.0\\.0\\.1\\[127\\.0\\.0\\.1\\]:\\d+, .*status=sent`));
    const mbox = join(sys.mailDir, 'root');
    const msg = await waitFor('delivery of the LMTP-filtered message', () => parseMboxSettled(existsSync(mbox) ? sys.mbox('root') : '').find((m) => m.headers.get('subject')?.[0] === 'lmtp filter'));
    assert.deepEqual(msg.headers.get('x-filtered'), ['by the LMTP filter']);
    assert.deepEqual(lmtpFiltered, [{ from: 'sender@example.org', to: ['carol@localhost'] }]);
    assert.equal(filtered.length, 1, 'content_filter was not used for this message');
  });
});

describe('content_filter with XFORWARD (FILTER_README advanced): the re-injection logs the original client', () => {
  let sys: MailSystem;
  before(async () => {
    const reinjectPort = await freePort();
    sys = await startSystem({
      aliases: 'postmaster: root\nalice: root\n',
      main: { mynetworks: '127.0.0.0/8', content_filter: `smtp:[127.0.0.1]:${reinjectPort}`, smtp_send_xforward_command: 'yes' },
      extraMaster: `127.0.0.1:${reinjectPort} inet n  -       n       -       10      smtpd
    -o content_filter=
    -o smtpd_authorized_xforward_hosts=127.0.0.0/8
    -o receive_override_options=no_unknown_recipient_checks,no_header_body_checks
    -o smtpd_recipient_restrictions=permit_mynetworks,reject
`,
    });
  });
  after(async () => {
    await sys?.inst.dispose();
  });

  test('smtp sends XFORWARD; the second smtpd logs orig_client 127.0.0.5 and orig_queue_id; delivered once, no loop', async () => {
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: sys.smtpPort, secure: false, ignoreTLS: true, localAddress: '127.0.0.5', name: 'client.example.org' });
    const info = await transport.sendMail({
      envelope: { from: 'sender@example.org', to: ['alice@localhost'] },
      raw: 'From: sender@example.org\r\nTo: alice@localhost\r\nSubject: xforward\r\n\r\nbody\r\n',
    });
    const firstId = info.response.split(' ').pop()!;
    await sys.inst.waitForLog(new RegExp(`${firstId}: to=<alice@localhost>, relay=127\\.0\\.0\\.1\\[127\\.0\\.0\\.1\\]:\\d+, .*status=sent`));
    const local = await sys.inst.waitForLog(/(\w+): to=<root@mail\.example\.test>, orig_to=<alice@localhost>, relay=local, .*status=sent/);
    const secondId = local[1]!;
    assert.notEqual(secondId, firstId);
    // the second queue file names the original client and queue ID (XFORWARD ADDR, IDENT), as Postfix's smtpd logs it
    const clients = sys.inst.log.split('\n').filter((l) => / (\w+): client=/.test(l));
    assert.equal(clients.length, 2, sys.inst.log);
    assert.ok(clients.some((l) => l.endsWith(`${firstId}: client=unknown[127.0.0.5]`)), clients.join('\n'));
    assert.ok(clients.some((l) => l.endsWith(`${secondId}: client=unknown[127.0.0.1], orig_queue_id=${firstId}, orig_client=unknown[127.0.0.5]`)), clients.join('\n'));
    const msgs = parseMbox(sys.mbox('root'));
    assert.equal(msgs.length, 1);
    const received = msgs[0]!.headers.get('received') ?? [];
    assert.equal(received.length, 2, received.join('\n'));
    // XFORWARD overrides logging attributes only (XFORWARD_README; smtpd.c stamps the connection's own
    // name and address): the original client is in the first smtpd's Received:, below the re-injection's
    assert.match(received[1]!, /^from client\.example\.org \(unknown \[127\.0\.0\.5\]\)/);
    assert.match(received[0]!, /^from \S+ \(\S+ \[127\.0\.0\.1\]\)/);
    const relayed = sys.inst.log.split('\n').filter((l) => /relay=127\.0\.0\.1\[127\.0\.0\.1\]/.test(l));
    assert.equal(relayed.length, 1, 'no loop: the re-injected copy goes to local, not back to the content filter');
  });
});
