/**
 * master(8)'s stress mode (STRESS_README), end to end: a public smtpd
 * service (listening on the wildcard address, so not local-only) whose
 * clients fill its process limit makes master log Postfix's three warnings
 * and start new processes with "-o stress=yes", where the stress-dependent
 * defaults apply (smtpd_hard_error_limit = ${stress?{1}:{20}}: one error
 * ends the session). A loopback-only service never enters stress mode.
 * Connections are made to 127.0.0.1 only.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { freePort } from '../lib/instance.js';
import { LineClient } from '../lib/line-client.js';
import { startSystem, type MailSystem } from '../lib/system.js';

async function greeted(port: number): Promise<LineClient> {
  const c = await LineClient.open(port);
  assert.match(await c.next(), /^220 /);
  return c;
}

describe('stress mode of a public service that fills its process limit', () => {
  let sys: MailSystem;
  let publicPort: number;

  before(async () => {
    publicPort = await freePort();
    sys = await startSystem({ extraMaster: `0.0.0.0:${publicPort} inet n - n - 2 smtpd\n` });
  });
  after(async () => sys?.inst.dispose());

  test('before: one unknown command is one error among smtpd_hard_error_limit (20)', async () => {
    const c = await greeted(publicPort);
    assert.match(await c.ask('FOO'), /^500 5\.5\.2 Error: command not recognized/);
    assert.match(await c.ask('NOOP'), /^250 /);
    c.close();
    const local = await greeted(sys.smtpPort);
    assert.match(await local.ask('FOO'), /^500 /);
    local.close();
  });

  test('two clients fill maxproc 2: the warnings, then new processes run with stress=yes', async () => {
    const held = [await greeted(publicPort), await greeted(publicPort)];
    try {
      await sys.inst.waitForLog(/warning: service "0\.0\.0\.0:\d+" \(0\.0\.0\.0:\d+\) has reached its process limit "2": new clients may experience noticeable delays/, 30_000);
      assert.match(sys.inst.log, /warning: to avoid this condition, increase the process count in master\.cf or reduce the service time per client/);
      assert.match(sys.inst.log, /warning: see http:\/\/www\.postfix\.org\/STRESS_README\.html for examples of stress-adapting configuration settings/);
      held.push(await greeted(publicPort));
      const stressed = held[2]!;
      // smtpd_hard_error_limit = ${stress?{1}:{20}}: the first error ends the session
      const reply = await stressed.ask('FOO');
      assert.match(reply, /^500 5\.5\.2 Error: command not recognized/);
      assert.match(await stressed.next(), /^421 4\.7\.0 .*Error: too many errors/);
      await stressed.closed;
      assert.equal((sys.inst.log.match(/has reached its process limit/g) ?? []).length, 1, 'logged once (at most every 1000 s)');
    } finally {
      for (const c of held) c.close();
    }
    // the loopback-only smtpd of the same system is not under stress
    const local = await greeted(sys.smtpPort);
    assert.match(await local.ask('FOO'), /^500 /);
    assert.match(await local.ask('NOOP'), /^250 /);
    local.close();
  });
});
