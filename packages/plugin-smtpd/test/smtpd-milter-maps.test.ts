/**
 * smtpd_milter_maps (Postfix 3.2): a cidr table keyed by the client address
 * overrides smtpd_milters (another milter list, or DISABLE for none);
 * milter_macro_defaults (Postfix 3.1) fills macros the session has no value
 * for. Milters: two recording ones on loopback that speak the milter
 * protocol (negotiate, record the connect events and the macros, continue).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startMilterServer, type MilterServer } from '@postern/testkit';
import { RawClient, startRig } from './helpers.js';

/** The client addresses of the connect events a milter saw. */
const connects = (m: MilterServer) => m.sessions.flatMap((s) => (s.connect ? [s.connect.address] : []));

let dir: string;
let m1: MilterServer;
let m2: MilterServer;
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'postern-milter-maps-'));
  m1 = await startMilterServer();
  m2 = await startMilterServer();
});
after(async () => {
  await m1.stop();
  await m2.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('smtpd_milter_maps: DISABLE for one client, another milter list for another, smtpd_milters for the rest; milter_macro_defaults', async () => {
  const map = join(dir, 'smtpd_milter_map');
  writeFileSync(map, `127.0.0.2/32 DISABLE\n127.0.0.3/32 { inet:127.0.0.1:${m2.port}, default_action=accept }\n`);
  const rig = await startRig({
    smtpd_milters: `inet:127.0.0.1:${m1.port}`,
    smtpd_milter_maps: `cidr:${map}`,
    milter_macro_defaults: '{ auth_type = none }, {mail_host=relay, default.example}, mail_mailer=esmtp',
    milter_mail_macros: '{auth_type} {mail_addr} {mail_host} {mail_mailer}',
  });
  const talk = async (from: string) => {
    const c = await RawClient.open(rig.port, from);
    assert.match((await c.reply())!, /^220 /);
    assert.match((await c.cmd('EHLO client.example'))!, /^250[- ]/);
    assert.equal(await c.cmd('MAIL FROM:<a@client.example>'), '250 2.1.0 Ok');
    assert.equal(await c.cmd('QUIT'), '221 2.0.0 Bye');
    await c.waitClose();
  };
  try {
    await talk('127.0.0.1');
    assert.deepEqual(connects(m1), ['127.0.0.1']);
    const mail = m1.sessions.flatMap((s) => s.macroPackets).find((m) => m.stage === 'M')!.macros;
    assert.equal(mail.get('{auth_type}'), 'none', 'a default where the session has no value');
    assert.equal(mail.get('{mail_host}'), 'relay, default.example');
    assert.equal(mail.get('{mail_addr}'), 'a@client.example', 'the session value wins');
    assert.equal(mail.get('{mail_mailer}'), 'esmtp', 'a default named without braces');

    await talk('127.0.0.2');
    assert.deepEqual(connects(m1), ['127.0.0.1']);
    assert.deepEqual(connects(m2), []);

    await talk('127.0.0.3');
    assert.deepEqual(connects(m1), ['127.0.0.1']);
    assert.deepEqual(connects(m2), ['127.0.0.3']);
  } finally {
    await rig.stop();
  }
});

test('a bad milter_macro_defaults pair: 421 4.3.5 and a warning', async () => {
  const rig = await startRig({ smtpd_milters: `inet:127.0.0.1:${m1.port}`, milter_macro_defaults: 'novalue' });
  try {
    const c = await RawClient.open(rig.port);
    assert.equal(await c.reply(), '421 4.3.5 mx.example.com Server configuration problem - try again later');
    await c.waitClose();
    assert.ok(rig.log.lines.some((l) => /^warning: smtpd_milters: milter_macro_defaults: missing "=" in "novalue"$/.test(l)), rig.log.lines.join('\n'));
  } finally {
    await rig.stop();
  }
});
