import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RawClient, startRig } from './helpers.js';

async function session(port: number, from: string, rcpts: string[], localAddress = '127.0.0.1'): Promise<string[]> {
  const c = await RawClient.open(port, localAddress);
  const out: string[] = [];
  out.push((await c.reply())!);
  out.push((await c.cmd('EHLO client.example'))!.split('\n').pop()!);
  out.push((await c.cmd(`MAIL FROM:<${from}>`))!);
  for (const r of rcpts) out.push((await c.cmd(`RCPT TO:<${r}>`))!);
  out.push((await c.cmd('QUIT'))!);
  await c.waitClose();
  return out;
}

test('default relay restrictions: mynetworks may relay, others get 454 4.7.1 Relay access denied (relay_domains_reject_code - 100, as Postfix 3.7 defer_unauth_destination does)', async () => {
  const rig = await startRig({ mynetworks: '127.0.0.1/32' });
  try {
    const inside = await session(rig.port, 'a@client.example', ['x@elsewhere.example']);
    assert.equal(inside[3], '250 2.1.5 Ok');
    const outside = await session(rig.port, 'a@client.example', ['x@elsewhere.example', 'bob@example.com', 'r@relay.example'], '127.0.0.2');
    assert.deepEqual(outside.slice(3, 6), ['454 4.7.1 <x@elsewhere.example>: Relay access denied', '250 2.1.5 Ok', '250 2.1.5 Ok']);
    assert.ok(
      rig.log.lines.includes(
        'NOQUEUE: reject: RCPT from unknown[127.0.0.2]: 454 4.7.1 <x@elsewhere.example>: Relay access denied; from=<a@client.example> to=<x@elsewhere.example> proto=ESMTP helo=<client.example>',
      ),
      rig.log.lines.join('\n'),
    );
  } finally {
    await rig.stop();
  }
});

test('reject_unauth_destination: 554 5.7.1 with relay_domains_reject_code', async () => {
  const rig = await startRig({ smtpd_relay_restrictions: 'permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination' });
  try {
    const out = await session(rig.port, 'a@client.example', ['x@elsewhere.example'], '127.0.0.2');
    assert.equal(out[3], '554 5.7.1 <x@elsewhere.example>: Relay access denied');
  } finally {
    await rig.stop();
  }
});

test('restriction table: access actions, reject_non_fqdn_*, unlisted recipients, delay_reject', async (t) => {
  const cases: { name: string; params: Record<string, string>; from?: string; rcpt: string; want: string; ip?: string }[] = [
    {
      name: 'check_recipient_access REJECT text',
      params: { smtpd_recipient_restrictions: 'check_recipient_access inline:{ {blocked@example.com=REJECT go away} }' },
      rcpt: 'blocked@example.com',
      want: '554 5.7.1 <blocked@example.com>: Recipient address rejected: go away',
    },
    {
      name: 'check_sender_access 4NN text with enhanced code',
      params: { smtpd_sender_restrictions: 'check_sender_access inline:{ {spam.example=450 4.7.9 come back later} }' },
      from: 'x@spam.example',
      rcpt: 'bob@example.com',
      want: '450 4.7.9 <x@spam.example>: Sender address rejected: come back later',
    },
    {
      name: 'check_client_access by address prefix, DEFER',
      params: { smtpd_client_restrictions: 'check_client_access inline:{ 127.0.0=DEFER }' },
      rcpt: 'bob@example.com',
      want: '450 4.7.1 <unknown[127.0.0.1]>: Client host rejected: Access denied',
    },
    {
      name: 'check_helo_access parent domain OK then reject',
      params: { smtpd_helo_restrictions: 'check_helo_access inline:{ example=OK }, reject' },
      rcpt: 'bob@example.com',
      want: '250 2.1.5 Ok',
    },
    {
      name: 'plain reject in client restrictions',
      params: { smtpd_client_restrictions: 'reject' },
      rcpt: 'bob@example.com',
      want: '554 5.7.1 <unknown[127.0.0.1]>: Client host rejected: Access denied',
    },
    {
      name: 'warn_if_reject turns reject into a warning',
      params: { smtpd_recipient_restrictions: 'warn_if_reject, reject' },
      rcpt: 'bob@example.com',
      want: '250 2.1.5 Ok',
    },
    {
      name: 'defer_if_permit',
      params: { smtpd_recipient_restrictions: 'defer_if_permit, permit' },
      rcpt: 'bob@example.com',
      want: '450 4.7.1 <bob@example.com>: Recipient address rejected: defer_if_permit requested',
    },
    {
      name: 'defer_if_reject',
      params: { smtpd_recipient_restrictions: 'defer_if_reject, reject' },
      rcpt: 'bob@example.com',
      want: '450 4.7.1 <bob@example.com>: Recipient address rejected: Access denied',
    },
    {
      name: 'reject_non_fqdn_recipient',
      params: { smtpd_recipient_restrictions: 'reject_non_fqdn_recipient' },
      rcpt: 'bob@localhost',
      want: '504 5.5.2 <bob@localhost>: Recipient address rejected: need fully-qualified address',
    },
    {
      name: 'reject_non_fqdn_sender',
      params: { smtpd_sender_restrictions: 'reject_non_fqdn_sender' },
      from: 'a@nodots',
      rcpt: 'bob@example.com',
      want: '504 5.5.2 <a@nodots>: Sender address rejected: need fully-qualified address',
    },
    {
      name: 'reject_non_fqdn_helo_hostname (helo is client.example: passes)',
      params: { smtpd_helo_restrictions: 'reject_non_fqdn_helo_hostname, reject_invalid_helo_hostname' },
      rcpt: 'bob@example.com',
      want: '250 2.1.5 Ok',
    },
    {
      name: 'unlisted local recipient (smtpd_reject_unlisted_recipient)',
      params: { local_recipient_maps: 'inline:{ bob=x }' },
      rcpt: 'carol@example.com',
      want: '550 5.1.1 <carol@example.com>: Recipient address rejected: User unknown in local recipient table',
    },
    {
      name: 'listed local recipient',
      params: { local_recipient_maps: 'inline:{ bob=x }' },
      rcpt: 'bob@example.com',
      want: '250 2.1.5 Ok',
    },
    {
      name: 'a local address that virtual_alias_maps lists (user@domain key) is valid (LOCAL_RECIPIENT_README)',
      params: { local_recipient_maps: 'inline:{ bob=x }', virtual_alias_maps: 'inline:{ info@example.com=bob }' },
      rcpt: 'info@example.com',
      want: '250 2.1.5 Ok',
    },
    {
      name: 'a local address that recipient_canonical_maps lists is valid',
      params: { local_recipient_maps: 'inline:{ bob=x }', recipient_canonical_maps: 'inline:{ sales@example.com=bob@example.com }' },
      rcpt: 'sales@example.com',
      want: '250 2.1.5 Ok',
    },
    {
      name: 'a local address that canonical_maps lists (user key) is valid',
      params: { local_recipient_maps: 'inline:{ bob=x }', canonical_maps: 'inline:{ help=bob }' },
      rcpt: 'help@example.com',
      want: '250 2.1.5 Ok',
    },
    {
      name: 'a relay address that virtual_alias_maps lists by @domain is valid',
      params: { relay_recipient_maps: 'inline:{ a@relay.example=x }', virtual_alias_maps: 'inline:{ @relay.example=bob }' },
      rcpt: 'z@relay.example',
      want: '250 2.1.5 Ok',
    },
    {
      name: 'an address no rewriting map lists is still unknown',
      params: { local_recipient_maps: 'inline:{ bob=x }', virtual_alias_maps: 'inline:{ info@example.com=bob }', canonical_maps: 'inline:{ help=bob }' },
      rcpt: 'other@example.com',
      want: '550 5.1.1 <other@example.com>: Recipient address rejected: User unknown in local recipient table',
    },
    {
      name: 'soft_bounce = yes: a 5XX restriction reply becomes 4XX',
      params: { soft_bounce: 'yes', local_recipient_maps: 'inline:{ bob=x }' },
      rcpt: 'carol@example.com',
      want: '450 4.1.1 <carol@example.com>: Recipient address rejected: User unknown in local recipient table',
    },
    {
      name: 'unlisted virtual mailbox',
      params: { virtual_mailbox_maps: 'inline:{ a@virt.example=a/ }' },
      rcpt: 'b@virt.example',
      want: '550 5.1.1 <b@virt.example>: Recipient address rejected: User unknown in virtual mailbox table',
    },
    {
      name: 'unlisted relay recipient',
      params: { relay_recipient_maps: 'inline:{ a@relay.example=x }' },
      rcpt: 'b@relay.example',
      want: '550 5.1.1 <b@relay.example>: Recipient address rejected: User unknown in relay recipient table',
    },
    {
      name: 'explicit reject_unlisted_recipient with the implicit check off',
      params: { local_recipient_maps: 'inline:{ bob=x }', smtpd_reject_unlisted_recipient: 'no', smtpd_recipient_restrictions: 'reject_unlisted_recipient' },
      rcpt: 'eve@example.com',
      want: '550 5.1.1 <eve@example.com>: Recipient address rejected: User unknown in local recipient table',
    },
    {
      name: 'unknown_local_recipient_reject_code',
      params: { local_recipient_maps: 'inline:{ bob=x }', unknown_local_recipient_reject_code: '450' },
      rcpt: 'carol@example.com',
      want: '450 4.1.1 <carol@example.com>: Recipient address rejected: User unknown in local recipient table',
    },
    {
      name: 'access_map_reject_code',
      params: { access_map_reject_code: '550', smtpd_recipient_restrictions: 'check_recipient_access inline:{ bob@example.com=REJECT }' },
      rcpt: 'bob@example.com',
      want: '550 5.7.1 <bob@example.com>: Recipient address rejected: Access denied',
    },
  ];
  for (const tc of cases) {
    await t.test(tc.name, async () => {
      const rig = await startRig(tc.params);
      try {
        const out = await session(rig.port, tc.from ?? 'a@client.example', [tc.rcpt], tc.ip);
        assert.equal(out[3], tc.want);
      } finally {
        await rig.stop();
      }
    });
  }
});

test('smtpd_delay_reject = no: client reject replaces the greeting, later commands get 503 5.7.0', async () => {
  const rig = await startRig({ smtpd_delay_reject: 'no', smtpd_client_restrictions: 'reject' });
  try {
    const c = await RawClient.open(rig.port);
    assert.equal(await c.reply(), '554 5.7.1 <unknown[127.0.0.1]>: Client host rejected: Access denied');
    assert.equal(await c.cmd('EHLO x.example'), '503 5.7.0 Error: access denied for unknown[127.0.0.1]');
    assert.equal(await c.cmd('QUIT'), '221 2.0.0 Bye');
    await c.waitClose();
    assert.ok(rig.log.lines.some((l) => l.startsWith('NOQUEUE: reject: CONNECT from unknown[127.0.0.1]: 554 5.7.1')));
  } finally {
    await rig.stop();
  }
});

test('HOLD and FILTER actions reach cleanup; PREPEND adds a header before Received:', async () => {
  const rig = await startRig({
    smtpd_recipient_restrictions:
      'check_recipient_access inline:{ {bob@example.com=HOLD} }, check_sender_access inline:{ {a@client.example=FILTER smtp:[10.0.0.1]:10025} }, check_client_access inline:{ {127.0.0.1=PREPEND X-Seen: yes} }',
  });
  try {
    const c = await RawClient.open(rig.port);
    await c.reply();
    await c.cmd('EHLO client.example');
    await c.cmd('MAIL FROM:<a@client.example>');
    assert.equal(await c.cmd('RCPT TO:<bob@example.com>'), '250 2.1.5 Ok');
    await c.cmd('DATA');
    c.send('Subject: x\r\n\r\nbody\r\n.\r\n');
    assert.match((await c.reply())!, /^250 2\.0\.0 Ok: queued as /);
    await c.cmd('QUIT');
    const sub = rig.cleanup.submitted[0]!;
    assert.deepEqual(sub.request.flags, { hold: true });
    assert.equal(sub.request.filter, 'smtp:[10.0.0.1]:10025');
    assert.ok(sub.content.startsWith('X-Seen: yes\nReceived: from client.example'), sub.content);
    assert.ok(rig.log.lines.some((l) => /^NOQUEUE: hold: RCPT from unknown\[127\.0\.0\.1\]: <bob@example\.com>: Recipient address triggers HOLD action;/.test(l)));
  } finally {
    await rig.stop();
  }
});

test('plugin restrictions and hooks from postern_smtpd_plugins', async () => {
  const rig = await startRig(
    { postern_smtpd_plugins: '@acme/postern-plugin-x', smtpd_recipient_restrictions: 'acme_check' },
    {
      smtpd: {
        importer: async () => ({
          default: {
            name: 'acme',
            restrictions: {
              acme_check: (s: { recipient?: string }) =>
                s.recipient === 'no@example.com' ? { action: 'reject', code: 550, dsn: '5.7.1', text: 'acme says no' } : { action: 'dunno' },
            },
            hooks: { helo: (s: { helo?: string }) => (s.helo === 'evil.example' ? { action: 'reject', code: 550, text: 'bad helo' } : { action: 'dunno' }) },
          },
        }),
      },
    },
  );
  try {
    const out = await session(rig.port, 'a@client.example', ['no@example.com', 'yes@example.com']);
    assert.deepEqual(out.slice(3, 5), ['550 5.7.1 <no@example.com>: Recipient address rejected: acme says no', '250 2.1.5 Ok']);
    const c = await RawClient.open(rig.port);
    await c.reply();
    assert.equal(await c.cmd('EHLO evil.example'), '550 5.7.1 <evil.example>: Helo command rejected: bad helo');
    await c.cmd('QUIT');
  } finally {
    await rig.stop();
  }
});
