/**
 * milter_header_checks (Postfix 2.7) with non_smtpd_milters: mail from
 * pickup goes through a milter on loopback that adds "X-Milter-Verdict:
 * <the Subject it saw>"; a regexp table matching that header holds, rejects
 * or discards the message, logged as Postfix logs it. The same header in the
 * message itself does not trigger it.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { withCleanup } from './harness.js';

/** A milter that adds "X-Milter-Verdict: <subject>" to each message (SMFIR_ADDHEADER). */
let milter: Server;
let port = 0;
before(async () => {
  milter = createServer((sock) => {
    sock.on('error', () => undefined);
    let buf = Buffer.alloc(0);
    let subject = '';
    const send = (cmd: string, data = Buffer.alloc(0)) => {
      const head = Buffer.alloc(5);
      head.writeUInt32BE(data.length + 1, 0);
      head.write(cmd, 4, 'latin1');
      sock.write(Buffer.concat([head, data]));
    };
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) {
        const len = buf.readUInt32BE(0);
        const cmd = String.fromCharCode(buf[4]!);
        const data = buf.subarray(5, 4 + len);
        buf = buf.subarray(4 + len);
        if (cmd === 'O') {
          const r = Buffer.alloc(12);
          r.writeUInt32BE(6, 0);
          r.writeUInt32BE(0x1, 4); // SMFIF_ADDHDRS
          send('O', r);
          continue;
        }
        if (cmd === 'L') {
          const [name, value] = data.toString('latin1').split('\0');
          if (name?.toLowerCase() === 'subject') subject = value ?? '';
        }
        if (cmd === 'E') send('h', Buffer.from(`X-Milter-Verdict\0${subject}\0`, 'latin1'));
        if (cmd !== 'D' && cmd !== 'A' && cmd !== 'Q') send('c');
      }
    });
  });
  await new Promise<void>((r) => milter.listen(0, '127.0.0.1', r));
  port = (milter.address() as { port: number }).port;
});
after(() => milter.close());

const TABLE = [
  '/^X-Milter-Verdict: hold/ HOLD milter says hold',
  '/^X-Milter-Verdict: reject/ REJECT',
  '/^X-Milter-Verdict: defer/ REJECT 4.7.1 later',
  '/^X-Milter-Verdict: discard/ DISCARD not wanted',
  '',
].join('\n');

const message = (headers: string) => `From: sender@example.com\nSubject: ${headers}\n\nhello\n`;
const tail = 'from localhost[127.0.0.1]; from=<sender@example.com> to=<rcpt@example.org>';

test('non_smtpd_milters and milter_header_checks: HOLD, REJECT, DISCARD on the milter\'s header only', async () => {
  const settings = { non_smtpd_milters: `inet:127.0.0.1:${port}`, milter_header_checks: 'regexp:{dir}/milter_header_checks' };
  await withCleanup(settings, { milter_header_checks: TABLE }, async (h) => {
    // HOLD: queued in the hold queue, the milter's header kept
    let r = await h.submit({ origin: 'pickup' }, message('hold'));
    assert.equal(r.status, 'queued');
    assert.equal(await h.store.count('hold'), 1);
    assert.match(await h.content(r.queueId), /\nX-Milter-Verdict: hold\n/);
    assert.ok(h.log.lines.includes(`${r.queueId}: milter-header-hold: header X-Milter-Verdict: hold ${tail}: milter says hold`), h.log.lines.join('\n'));

    // REJECT: refused with Postfix's default text; 4.x.x: a temporary failure
    r = await h.submit({ origin: 'pickup' }, message('reject'));
    assert.deepEqual([r.status, r.code, r.dsn, r.text], ['rejected', 550, '5.7.1', 'message content rejected']);
    assert.ok(h.log.lines.includes(`${r.queueId}: milter-header-reject: header X-Milter-Verdict: reject ${tail}: 5.7.1 message content rejected`), h.log.lines.join('\n'));
    assert.ok(!h.log.lines.some((l) => l.startsWith(`${r.queueId}: milter-reject:`)), 'not logged again as a milter reply');
    r = await h.submit({ origin: 'pickup' }, message('defer'));
    assert.deepEqual([r.status, r.code, r.dsn, r.text], ['tempfail', 451, '4.7.1', 'later']);

    // DISCARD: accepted, nothing queued
    r = await h.submit({ origin: 'pickup' }, message('discard'));
    assert.equal(r.status, 'discarded');
    assert.ok(h.log.lines.includes(`${r.queueId}: milter-header-discard: header X-Milter-Verdict: discard ${tail}: not wanted`), h.log.lines.join('\n'));
    assert.equal(await h.queued(), 1);

    // the message's own X-Milter-Verdict: headers do not trigger the table
    r = await h.submit({ origin: 'pickup' }, message('fine\nX-Milter-Verdict: reject\nX-Milter-Verdict: hold'));
    assert.equal(r.status, 'queued');
    assert.equal(await h.store.count('incoming'), 1);
    assert.ok(!h.log.lines.some((l) => l.startsWith(`${r.queueId}: milter-header-`)), h.log.lines.join('\n'));

    // mail from smtpd does not meet non_smtpd_milters at all
    r = await h.submit({ origin: 'smtpd' }, message('reject'));
    assert.equal(r.status, 'queued');
  });
});
