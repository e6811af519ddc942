/**
 * milter_header_checks (Postfix 2.7) with non_smtpd_milters: mail from
 * pickup goes through a milter on loopback that adds "X-Milter-Verdict:
 * <the Subject it saw>"; a regexp table matching that header holds, rejects
 * or discards the message, logged as Postfix logs it. The same header in the
 * message itself does not trigger it.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { SMFIF } from '@postern/milter';
import { atEndOfMessage, messageHeader, milterReply, startMilterServer, type MilterServer } from '@postern/testkit';
import { withCleanup } from './harness.js';

/** A milter that adds "X-Milter-Verdict: <subject>" to each message (SMFIR_ADDHEADER). */
let milter: MilterServer;
before(async () => {
  milter = await startMilterServer({ actions: SMFIF.ADDHDRS, rule: atEndOfMessage((s) => [milterReply.addHeader('X-Milter-Verdict', messageHeader(s, 'Subject') ?? '')]) });
});
after(() => milter.stop());

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
  const settings = { non_smtpd_milters: `inet:127.0.0.1:${milter.port}`, milter_header_checks: 'regexp:{dir}/milter_header_checks' };
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
