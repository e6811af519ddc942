/**
 * Restrictions and parameter families of smtpd_check.c beyond the common
 * ones, against a real smtpd on a loopback port, with Postfix 3.7's replies:
 * smtpd_restriction_classes, smtpd_sender_login_maps with the
 * reject_*_sender_login_mismatch family, reject_multi_recipient_bounce,
 * reject_plaintext_session, permit_inet_interfaces, sleep, check_sasl_access,
 * reject_unknown_client_hostname's text, and (with a real DNS server,
 * dnsmasq) reject_unknown_helo_hostname and check_*_{mx,ns,a}_access.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { checkUnusedParameters, ParameterRegistry } from '@postern/core';
import { DNSMASQ, startTestDns, type TestDns } from '@postern/dns';
import { SMTPD_PARAMETERS } from '../src/smtpd-params.js';
import { RawClient, startRig, type Rig } from './helpers.js';

const plain = (user: string, pass: string) => Buffer.from(`\0${user}\0${pass}`).toString('base64');

/** One session: EHLO, optional AUTH, MAIL, RCPTs; the replies to MAIL and each RCPT. */
async function session(rig: Rig, o: { from: string; rcpts: string[]; helo?: string; auth?: [string, string]; ip?: string }): Promise<string[]> {
  const c = await RawClient.open(rig.port, o.ip ?? '127.0.0.1');
  try {
    await c.reply();
    await c.cmd(`EHLO ${o.helo ?? 'client.example'}`);
    if (o.auth) assert.match((await c.cmd(`AUTH PLAIN ${plain(...o.auth)}`))!, /^235 /);
    const out = [(await c.cmd(`MAIL FROM:<${o.from}>`))!];
    for (const r of o.rcpts) out.push((await c.cmd(`RCPT TO:<${r}>`))!);
    await c.cmd('QUIT');
    return out;
  } finally {
    c.socket.destroy();
  }
}

async function withRig<T>(params: Record<string, string>, run: (rig: Rig) => Promise<T>): Promise<T> {
  const rig = await startRig(params);
  try {
    return await run(rig);
  } finally {
    await rig.stop();
  }
}

test('smtpd_restriction_classes: a class named by an access table result, an undefined class, a loop', async () => {
  await withRig(
    {
      smtpd_restriction_classes: 'from_partners_only, loop',
      from_partners_only: 'check_sender_access inline:{ partner.example=OK }, reject',
      loop: 'loop',
      smtpd_recipient_restrictions: 'check_recipient_access inline:{ {internal@example.com=from_partners_only} {looping@example.com=loop} }, permit_mynetworks, reject_unauth_destination',
    },
    async (rig) => {
      assert.deepEqual((await session(rig, { from: 'x@partner.example', rcpts: ['internal@example.com'] })).slice(1), ['250 2.1.5 Ok']);
      assert.deepEqual((await session(rig, { from: 'x@other.example', rcpts: ['internal@example.com', 'bob@example.com'] })).slice(1), [
        '554 5.7.1 <internal@example.com>: Recipient address rejected: Access denied',
        '250 2.1.5 Ok',
      ]);
      assert.deepEqual((await session(rig, { from: 'x@other.example', rcpts: ['looping@example.com'] })).slice(1), ['451 4.3.5 Server configuration error']);
      assert.ok(rig.log.lines.some((l) => /unreasonable recursion/.test(l)), rig.log.lines.join('\n'));
    },
  );
  await withRig({ smtpd_restriction_classes: 'nodef', smtpd_recipient_restrictions: 'nodef' }, async (rig) => {
    assert.deepEqual((await session(rig, { from: 'x@other.example', rcpts: ['bob@example.com'] })).slice(1), ['451 4.3.5 Server configuration error']);
    assert.ok(rig.log.lines.some((l) => l.includes("restriction class `nodef' needs a definition")));
  });
});

test('a name smtpd_restriction_classes lists is a user-defined parameter, not an unused one', () => {
  const registry = ParameterRegistry.withCore();
  registry.declare('@postern/plugin-smtpd', SMTPD_PARAMETERS);
  const p = (name: string, value: string, line: number) => ({ kind: 'param' as const, name, value, file: 'main.cf', line, endLine: line });
  const warnings = checkUnusedParameters([p('smtpd_restriction_classes', 'strict', 1), p('strict', 'reject', 2), p('stray', 'x', 3)], [], registry);
  assert.deepEqual(warnings, ['main.cf: unused parameter: stray=x']);
});

test('smtpd_sender_login_maps: reject_sender_login_mismatch, _known_, _authenticated_ and _unauthenticated_ (553 5.7.1)', async () => {
  const base = {
    smtpd_sasl_auth_enable: 'yes',
    smtpd_sasl_type: 'postern-table',
    postern_sasl_password_maps: 'inline:{ alice=wonderland, bob=builder }',
    smtpd_sender_login_maps: 'inline:{ {alice@example.com=alice} {shared@example.com=alice,bob} }',
    mynetworks: '10.255.255.0/24',
    smtpd_relay_restrictions: 'permit_sasl_authenticated, reject_unauth_destination',
    // MAIL FROM is answered by the sender restrictions themselves
    smtpd_delay_reject: 'no',
  };
  const alice: [string, string] = ['alice', 'wonderland'];
  const bob: [string, string] = ['bob', 'builder'];
  await withRig({ ...base, smtpd_sender_restrictions: 'reject_sender_login_mismatch' }, async (rig) => {
    assert.equal((await session(rig, { from: 'alice@example.com', rcpts: [], auth: alice }))[0], '250 2.1.0 Ok');
    assert.equal((await session(rig, { from: 'shared@example.com', rcpts: [], auth: bob }))[0], '250 2.1.0 Ok', 'one of several owners');
    assert.equal((await session(rig, { from: 'alice@example.com', rcpts: [], auth: bob }))[0], '553 5.7.1 <alice@example.com>: Sender address rejected: not owned by user bob');
    assert.equal((await session(rig, { from: 'nobody@example.com', rcpts: [], auth: bob }))[0], '553 5.7.1 <nobody@example.com>: Sender address rejected: not owned by user bob', 'an address with no owner');
    assert.equal((await session(rig, { from: 'alice@example.com', rcpts: [] }))[0], '553 5.7.1 <alice@example.com>: Sender address rejected: not logged in');
    assert.equal((await session(rig, { from: 'nobody@example.com', rcpts: [] }))[0], '250 2.1.0 Ok', 'unowned and not logged in');
    assert.equal((await session(rig, { from: '', rcpts: [] }))[0], '250 2.1.0 Ok', 'the null sender is not checked');
    assert.ok(rig.log.lines.some((l) => /NOQUEUE: reject: MAIL from unknown\[127\.0\.0\.1\]: 553 5\.7\.1 <alice@example\.com>: Sender address rejected: not owned by user bob; from=<alice@example\.com> proto=ESMTP helo=<client\.example>$/.test(l)), rig.log.lines.join('\n'));
  });
  await withRig({ ...base, smtpd_sender_restrictions: 'reject_known_sender_login_mismatch' }, async (rig) => {
    assert.equal((await session(rig, { from: 'nobody@example.com', rcpts: [], auth: bob }))[0], '250 2.1.0 Ok', 'known only: an unowned address is anyone\'s');
    assert.equal((await session(rig, { from: 'alice@example.com', rcpts: [], auth: bob }))[0], '553 5.7.1 <alice@example.com>: Sender address rejected: not owned by user bob');
    assert.equal((await session(rig, { from: 'alice@example.com', rcpts: [] }))[0], '553 5.7.1 <alice@example.com>: Sender address rejected: not logged in');
  });
  await withRig({ ...base, smtpd_sender_restrictions: 'reject_unauthenticated_sender_login_mismatch' }, async (rig) => {
    assert.equal((await session(rig, { from: 'alice@example.com', rcpts: [], auth: bob }))[0], '250 2.1.0 Ok', 'logged-in clients are not checked');
    assert.equal((await session(rig, { from: 'alice@example.com', rcpts: [] }))[0], '553 5.7.1 <alice@example.com>: Sender address rejected: not logged in');
  });
  await withRig({ ...base, smtpd_sasl_auth_enable: 'no', smtpd_sender_restrictions: 'reject_sender_login_mismatch' }, async (rig) => {
    assert.equal((await session(rig, { from: 'alice@example.com', rcpts: [] }))[0], '250 2.1.0 Ok');
    assert.ok(rig.log.lines.some((l) => l.includes("restriction `reject_authenticated_sender_login_mismatch' ignored: no SASL support")));
  });
});

test('check_sasl_access looks up the login name; reject_multi_recipient_bounce; reject_plaintext_session; sleep', async () => {
  await withRig(
    {
      smtpd_sasl_auth_enable: 'yes',
      smtpd_sasl_type: 'postern-table',
      postern_sasl_password_maps: 'inline:{ alice=wonderland, mallory=evil }',
      smtpd_sender_restrictions: 'check_sasl_access inline:{ {mallory=REJECT account suspended} }',
      smtpd_delay_reject: 'no',
    },
    async (rig) => {
      assert.equal((await session(rig, { from: 'a@example.com', rcpts: [], auth: ['mallory', 'evil'] }))[0], '554 5.7.1 <mallory>: SASL login name rejected: account suspended');
      assert.equal((await session(rig, { from: 'a@example.com', rcpts: [], auth: ['alice', 'wonderland'] }))[0], '250 2.1.0 Ok');
    },
  );
  await withRig({ smtpd_recipient_restrictions: 'reject_multi_recipient_bounce, permit_mynetworks, reject' }, async (rig) => {
    assert.deepEqual((await session(rig, { from: '', rcpts: ['a@example.com', 'b@example.com'] })).slice(1), [
      '250 2.1.5 Ok',
      '550 5.5.3 <b@example.com>: Recipient address rejected: Multi-recipient bounce',
    ]);
    assert.deepEqual((await session(rig, { from: 'x@client.example', rcpts: ['a@example.com', 'b@example.com'] })).slice(1), ['250 2.1.5 Ok', '250 2.1.5 Ok']);
  });
  await withRig({ smtpd_sender_restrictions: 'reject_plaintext_session', smtpd_delay_reject: 'no' }, async (rig) => {
    assert.equal((await session(rig, { from: 'x@client.example', rcpts: [] }))[0], '450 4.7.1 Session encryption is required');
  });
  await withRig({ smtpd_sender_restrictions: 'sleep 2, permit', smtpd_delay_reject: 'no' }, async (rig) => {
    assert.equal((await session(rig, { from: 'x@client.example', rcpts: [] }))[0], '250 2.1.0 Ok');
    assert.ok(rig.sleeps.includes(2000), `slept ${rig.sleeps.join(',')}`);
  });
  await withRig({ smtpd_sender_restrictions: 'sleep soon', smtpd_delay_reject: 'no' }, async (rig) => {
    assert.equal((await session(rig, { from: 'x@client.example', rcpts: [] }))[0], '451 4.3.5 Server configuration error');
    assert.ok(rig.log.lines.some((l) => l.includes('restriction sleep must be followed by number')));
  });
});

test('permit_inet_interfaces; reject_unknown_client_hostname with Postfix\'s text (4.7.25)', async () => {
  await withRig({ inet_interfaces: '127.0.0.1', mynetworks: '10.255.255.0/24', smtpd_relay_restrictions: '', smtpd_recipient_restrictions: 'permit_inet_interfaces, reject' }, async (rig) => {
    assert.equal((await session(rig, { from: 'x@client.example', rcpts: ['x@elsewhere.example'] }))[1], '250 2.1.5 Ok');
    assert.equal((await session(rig, { from: 'x@client.example', rcpts: ['x@elsewhere.example'], ip: '127.0.0.2' }))[1], '554 5.7.1 <x@elsewhere.example>: Recipient address rejected: Access denied');
  });
  await withRig({ smtpd_client_restrictions: 'reject_unknown_client_hostname' }, async (rig) => {
    assert.equal((await session(rig, { from: 'x@client.example', rcpts: ['bob@example.com'] }))[1], '450 4.7.25 Client host rejected: cannot find your hostname, [127.0.0.1]');
  });
  await withRig({ smtpd_client_restrictions: 'reject_unknown_reverse_client_hostname', unknown_client_reject_code: '550' }, async (rig) => {
    assert.equal((await session(rig, { from: 'x@client.example', rcpts: ['bob@example.com'] }))[1], '550 5.7.1 Client host rejected: cannot find your reverse hostname, [127.0.0.1]');
  });
});

describe('restrictions that ask DNS (a real dnsmasq on a loopback port)', { skip: DNSMASQ ? false : 'dnsmasq is not installed (Debian: dnsmasq-base)' }, () => {
  let dns: TestDns;
  before(async () => {
    dns = await startTestDns({
      zones: ['t.test'],
      hosts: { 'mx1.t.test': ['192.0.2.5'], 'mx2.t.test': ['198.51.100.7'], 'helo.t.test': ['192.0.2.9'], 'ns1.t.test': ['203.0.113.3'] },
      mx: { 'spammy.t.test': ['mx1.t.test'], 'fine.t.test': ['mx2.t.test'] },
      ns: { 'zone.t.test': ['ns1.t.test'] },
    });
  });
  after(async () => dns?.stop());
  const withDns = (params: Record<string, string>, run: (rig: Rig) => Promise<void>) => withRig({ postern_dns_servers: dns.server, smtpd_delay_reject: 'no', ...params }, run);

  test('reject_unknown_helo_hostname: 450 4.7.1 Host not found, unless the name has an address or MX', async () => {
    await withDns({ smtpd_helo_restrictions: 'reject_unknown_helo_hostname', smtpd_delay_reject: 'yes' }, async (rig) => {
      assert.equal((await session(rig, { from: 'x@client.example', rcpts: ['bob@example.com'], helo: 'nohost.t.test' }))[1], '450 4.7.1 <nohost.t.test>: Helo command rejected: Host not found');
      assert.equal((await session(rig, { from: 'x@client.example', rcpts: ['bob@example.com'], helo: 'helo.t.test' }))[1], '250 2.1.5 Ok');
      assert.equal((await session(rig, { from: 'x@client.example', rcpts: ['bob@example.com'], helo: 'spammy.t.test' }))[1], '250 2.1.5 Ok', 'an MX record is enough');
    });
  });

  test('check_sender_mx_access by MX address network, check_sender_ns_access through the parent zone, check_helo_a_access', async () => {
    await withDns(
      {
        smtpd_sender_restrictions: 'check_sender_mx_access inline:{ {192.0.2=REJECT mail server on a listed network} }, check_sender_ns_access inline:{ {ns1.t.test=REJECT bad name server} }',
      },
      async (rig) => {
        assert.equal((await session(rig, { from: 'x@spammy.t.test', rcpts: [] }))[0], '554 5.7.1 <x@spammy.t.test>: Sender address rejected: mail server on a listed network');
        assert.equal((await session(rig, { from: 'x@fine.t.test', rcpts: [] }))[0], '250 2.1.0 Ok');
        assert.equal((await session(rig, { from: 'x@host.sub.zone.t.test', rcpts: [] }))[0], '554 5.7.1 <x@host.sub.zone.t.test>: Sender address rejected: bad name server');
      },
    );
    await withDns({ smtpd_delay_reject: 'yes', smtpd_helo_restrictions: 'check_helo_a_access inline:{ {192.0.2.9=550 5.7.0 go away} }' }, async (rig) => {
      assert.equal((await session(rig, { from: 'x@fine.t.test', rcpts: ['bob@example.com'], helo: 'helo.t.test' }))[1], '550 5.7.0 <helo.t.test>: Helo command rejected: go away');
      assert.equal((await session(rig, { from: 'x@fine.t.test', rcpts: ['bob@example.com'], helo: 'mx2.t.test' }))[1], '250 2.1.5 Ok');
    });
  });

  test('OK from an mx/ns/a access table is refused (the client controls those DNS answers)', async () => {
    await withDns({ smtpd_sender_restrictions: 'check_sender_mx_access inline:{ {mx1.t.test=OK} }' }, async (rig) => {
      assert.equal((await session(rig, { from: 'x@spammy.t.test', rcpts: [] }))[0], '451 4.3.5 Server configuration error');
      assert.ok(rig.log.lines.includes('warning: restriction check_sender_mx_access returns OK for x@spammy.t.test'), rig.log.lines.join('\n'));
      assert.ok(rig.log.lines.includes('warning: use DUNNO instead of OK if you want to make an exception'));
    });
  });
});
