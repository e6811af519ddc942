/**
 * smtpd_milters at connect time (smtpd.c): a milter's 5xx makes the greeting
 * "554 HOST ESMTP not accepting connections", a 4xx keeps the 220 greeting,
 * and either refusal answers MAIL FROM afterwards; HELO is not refused. A
 * bad smtpd_milters setting is 421 4.3.5. Milter: a scripted one on loopback.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { milterReply, startMilterServer, type MilterReply } from '@postern/testkit';
import { RawClient, startRig } from './helpers.js';

/** A milter that answers the connect event with `connectReply` and everything else with continue. */
const connectMilter = (connectReply: MilterReply) => startMilterServer({ rule: ({ cmd }) => (cmd === 'C' ? connectReply : undefined) });

for (const [reply, greeting, mail] of [
  [milterReply.reject(), '554 mx.example.com ESMTP not accepting connections', '550 5.7.1 Command rejected'],
  [milterReply.tempfail(), /^220 /, '451 4.7.1 Service unavailable - try again later'],
] as const) {
  test(`a milter that answers connect with "${reply.cmd}": greeting and MAIL FROM`, async () => {
    const m = await connectMilter(reply);
    const rig = await startRig({ smtpd_milters: `inet:127.0.0.1:${m.port}` });
    try {
      const c = await RawClient.open(rig.port);
      const hello = (await c.reply())!;
      if (typeof greeting === 'string') assert.equal(hello, greeting);
      else assert.match(hello, greeting);
      assert.match((await c.cmd('EHLO client.example'))!, /^250[- ]/);
      assert.equal(await c.cmd('MAIL FROM:<a@client.example>'), mail);
      assert.equal(await c.cmd('QUIT'), '221 2.0.0 Bye');
      await c.waitClose();
      assert.ok(rig.log.lines.some((l) => l.startsWith('NOQUEUE: milter-reject: CONNECT from unknown[127.0.0.1]: ')), rig.log.lines.join('\n'));
    } finally {
      await rig.stop();
      await m.stop();
    }
  });
}

test('a bad smtpd_milters setting: 421 4.3.5 and a warning', async () => {
  const rig = await startRig({ smtpd_milters: '{ inet:127.0.0.1:1, default_action=maybe }' });
  try {
    const c = await RawClient.open(rig.port);
    assert.equal(await c.reply(), '421 4.3.5 mx.example.com Server configuration problem - try again later');
    await c.waitClose();
    assert.ok(rig.log.lines.some((l) => /^warning: smtpd_milters: .*bad default_action "maybe"/.test(l)), rig.log.lines.join('\n'));
  } finally {
    await rig.stop();
  }
});
