/**
 * Delivery end to end through the real master: bounce notices as RFC 3464
 * reports, and durability when processes are killed during a load.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import { simpleParser } from 'mailparser';
import { parseMboxSettled } from '../lib/mbox.js';
import { childrenOf } from '../lib/instance.js';
import { startSystem, type MailSystem } from '../lib/system.js';

async function waitFor<T>(what: string, probe: () => T | undefined, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Message-ID of every message in a Maildir's new/ (as local(8) leaves them). */
function maildirMessageIds(dir: string): string[] {
  const fresh = join(dir, 'new');
  if (!existsSync(fresh)) return [];
  return readdirSync(fresh).map((f) => /^Message-ID: (.*)$/im.exec(readFileSync(join(fresh, f), 'utf8'))?.[1] ?? '');
}

/** The messages in root's mbox; none while local(8) is still writing one. */
function rootMessages(sys: MailSystem) {
  return existsSync(join(sys.mailDir, 'root')) ? parseMboxSettled(sys.mbox('root')) : [];
}

describe('bounces', () => {
  let sys: MailSystem;
  before(async () => {
    // a command that exits 67 (EX_NOUSER): local(8) bounces the recipient
    sys = await startSystem({ aliases: 'postmaster: root\nnouser: "|/bin/sh -c \'exit 67\'"\n' });
  });
  after(async () => {
    await sys.inst.dispose();
  });

  test('a failed delivery sends the sender an RFC 3464 delivery status notification', async () => {
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: sys.smtpPort, ignoreTLS: true });
    const info = await transport.sendMail({
      envelope: { from: 'root@localhost', to: ['nouser@localhost'] },
      raw: 'From: root@localhost\nTo: nouser@localhost\nSubject: will bounce\nMessage-ID: <bounce-me@example.test>\n\nbody\n',
    });
    const queueId = info.response.split(' ').pop()!;
    const [notice] = await waitFor('the bounce notice', () => {
      const found = rootMessages(sys).filter((m) => /Undelivered Mail/.test(m.headers.get('subject')?.[0] ?? ''));
      return found.length ? found : undefined;
    });
    assert.deepEqual(notice!.headers.get('return-path'), ['<>'], 'notices come from the null sender');
    const parsed = await simpleParser(notice!.text);
    assert.match(String(parsed.headers.get('content-type') && (parsed.headers.get('content-type') as { value: string }).value), /multipart\/report/);
    assert.equal((parsed.headers.get('content-type') as { params: Record<string, string> }).params['report-type'], 'delivery-status');
    assert.match(notice!.text, /Content-Type: message\/delivery-status/i);
    assert.match(notice!.text, new RegExp(`X-Postfix-Queue-ID: ${queueId}`));
    assert.match(notice!.text, /Final-Recipient: rfc822; ?nouser@localhost/i);
    assert.match(notice!.text, /Action: failed/);
    assert.match(notice!.text, /Status: 5\.\d\.\d/);
    assert.match(notice!.text, /Message-ID: <bounce-me@example\.test>/, 'the original message is returned');
    await sys.inst.waitForLog(new RegExp(`${queueId}: sender non-delivery notification: \\w+`));
  });
});

describe('durability', () => {
  let sys: MailSystem;
  before(async () => {
    // Maildir (trailing /): a killed local(8) leaves at most a file in tmp/,
    // never half a message in a mailbox. Retry deferred mail quickly: the
    // kills defer what was in flight.
    sys = await startSystem({ maildir: true, main: { minimal_backoff_time: '1s', maximal_backoff_time: '2s', queue_run_delay: '1s' } });
  });
  after(async () => {
    await sys.inst.dispose();
  });

  test('every acknowledged message is delivered although cleanup, qmgr and local are killed during the load', async () => {
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: sys.smtpPort, ignoreTLS: true, pool: true, maxConnections: 8 });
    const acked: string[] = [];
    const sends: Promise<void>[] = [];
    let killed = 0;
    const masterPid = sys.inst.pid!;
    const killer = setInterval(() => {
      // kill -9 whatever cleanup, qmgr or local process is running now
      for (const pid of childrenOf(masterPid)) {
        try {
          const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
          if (/postern\/(cleanup|qmgr|local) /.test(cmd)) {
            process.kill(pid, 'SIGKILL');
            killed++;
          }
        } catch {
          /* already gone */
        }
      }
    }, 700);
    for (let i = 0; i < 150; i++) {
      const id = `<load-${i}@example.test>`;
      sends.push(
        transport
          .sendMail({ envelope: { from: 'load@example.test', to: ['root@localhost'] }, raw: `Message-ID: ${id}\nSubject: load ${i}\n\nmessage ${i}\n` })
          .then(
            () => void acked.push(id),
            () => undefined,
          ),
      );
      if (i % 10 === 9) await new Promise((r) => setTimeout(r, 150));
    }
    // The load is out: stop killing. Killing on until every send is answered can
    // go on for ever, since each kill lengthens master's restart back-off.
    clearInterval(killer);
    await Promise.all(sends);
    transport.close();
    assert.ok(killed > 0, 'processes were killed during the load');
    assert.ok(acked.length > 0);
    const delivered = await waitFor(
      'every acknowledged message in the mailbox',
      () => {
        const ids = new Set(maildirMessageIds(join(sys.mailDir, 'root')));
        return acked.every((id) => ids.has(id)) ? ids : undefined;
      },
      120_000,
    );
    for (const id of acked) assert.ok(delivered.has(id), `${id} was acknowledged and must be delivered`);
  });
});
