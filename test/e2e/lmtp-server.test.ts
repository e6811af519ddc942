/**
 * smtpd as an LMTP server (-o postern_smtpd_protocol=lmtp) under the real
 * master, with the real Postfix 3.7 lmtp(8) client delivering into it over an
 * inet socket and a unix socket: two recipients in one LMTP transaction get
 * one reply each after DATA, Postfix logs status=sent for both, and Postern
 * delivers them.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '../lib/instance.js';
import { parseMboxSettled } from '../lib/mbox.js';
import { POSTFIX_MISSING, PostfixInstance } from '../lib/postfix.js';
import { startSystem, type MailSystem } from '../lib/system.js';
import { waitFor } from '../lib/wait.js';

describe('smtpd as an LMTP server, fed by Postfix lmtp(8)', { skip: POSTFIX_MISSING }, () => {
  let sys: MailSystem;
  let postfix: PostfixInstance;
  let lmtpPort: number;

  before(async () => {
    lmtpPort = await freePort();
    sys = await startSystem({
      aliases: 'postmaster: root\nalice: root\nbob: root\n',
      extraMaster: `127.0.0.1:${lmtpPort} inet n - n - - smtpd -o postern_smtpd_protocol=lmtp
lmtp-in   unix  n       -       n       -       -       smtpd
    -o postern_smtpd_protocol=lmtp
`,
    });
    const socket = join(sys.inst.queueDir, 'public', 'lmtp-in');
    postfix = new PostfixInstance({
      default_transport: `lmtp:inet:127.0.0.1:${lmtpPort}`,
      transport_maps: `inline:{ mail.example.test=lmtp:unix:${socket} }`,
    });
    postfix.start();
  });
  after(async () => {
    postfix?.dispose();
    await sys?.inst.dispose();
  });

  test('inet: two recipients, one LMTP transaction, one reply each', async () => {
    postfix.sendmail('sender@postfix.example.test', ['alice@localhost', 'bob@localhost'], 'Subject: over lmtp inet\n\nhello\n');
    const a = await postfix.waitForLog(/(\w+): to=<alice@localhost>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:(\d+), .*status=sent \((250 2\.0\.0 Ok: queued as \w+)\)/);
    assert.equal(Number(a[2]), lmtpPort);
    const b = await postfix.waitForLog(new RegExp(`${a[1]}: to=<bob@localhost>, relay=127\\.0\\.0\\.1\\[127\\.0\\.0\\.1\\]:${lmtpPort}, .*status=sent \\((250 2\\.0\\.0 Ok: queued as \\w+)\\)`));
    assert.equal(b[1], a[3], 'both recipients were answered, with the same queue file');
    const id = a[3]!.split(' ').pop()!;
    await sys.inst.waitForLog(new RegExp(`${id}: to=<root@mail\\.example\\.test>, orig_to=<alice@localhost>, relay=local, .*status=sent`));
    await sys.inst.waitForLog(new RegExp(`disconnect from unknown\\[127\\.0\\.0\\.1\\] lhlo=1 mail=1 rcpt=2 data=1 quit=1 commands=6`));
  });

  test('unix: lmtp:unix:$queue_directory/public/lmtp-in, the client is localhost[127.0.0.1]', async () => {
    postfix.sendmail('sender@postfix.example.test', ['alice@mail.example.test'], 'Subject: over lmtp unix\n\nhello\n');
    const m = await postfix.waitForLog(/: to=<alice@mail\.example\.test>, relay=postfix\.example\.test\[[^\]]*public\/lmtp-in\], .*status=sent \((250 2\.0\.0 Ok: queued as (\w+))\)/);
    await sys.inst.waitForLog(new RegExp(`${m[2]}: client=localhost\\[127\\.0\\.0\\.1\\]`));
    const mbox = join(sys.mailDir, 'root');
    const msgs = await waitFor('both deliveries', () => {
      if (!existsSync(mbox)) return undefined;
      const all = parseMboxSettled(sys.mbox('root'));
      return all.length >= 3 ? all : undefined;
    });
    const unix = msgs.find((x) => x.headers.get('subject')?.[0] === 'over lmtp unix')!;
    assert.match(unix.headers.get('received')![0]!, /from postfix\.example\.test \(localhost \[127\.0\.0\.1\]\)\s+by mail\.example\.test \(Postern\) with LMTP id /);
  });
});
