import { test } from 'node:test';
import assert from 'node:assert/strict';
import { plugin } from '../src/index.js';
import { isLongQueueId, newQueueId } from '@postern/core';
import { REMOTE_CLIENT, TRUSTED_CLIENT, withCleanup } from './harness.js';

const MSG = 'Subject: hello\r\nTo: rcpt@example.org\r\n\r\nline one\r\nline two\r\n';

test('plugin declaration', () => {
  assert.equal(plugin.name, '@postern/plugin-cleanup');
  assert.deepEqual(plugin.provides, ['cleanup']);
  assert.deepEqual(plugin.uses, ['rewrite']);
  assert.ok(plugin.parameters?.some((p) => p.name === 'virtual_alias_recursion_limit' && p.default === '1000'));
});

test('local submission: queued with LF line ends, missing headers added, Return-Path/Bcc removed, qmgr triggered', async () => {
  await withCleanup({}, {}, async (h) => {
    let early = '';
    const content = [
      'Return-Path: <forged@example.net>\r\n',
      'Subject: hi\r\nBcc: hidden@example.org\r\n',
      'To: rcpt@example.org\r\n\r\nbody line\r',
      '\nlast line\r\n',
    ];
    const r = await h.submit(
      { sender: 'joe', recipients: [{ address: 'rcpt@example.org' }], origin: 'pickup', submitter: { user: 'joe', fullName: 'Joe User' }, arrivalTime: Date.UTC(2024, 0, 2, 3, 4, 5) },
      content,
      (id) => (early = id),
    );
    assert.equal(r.status, 'queued');
    assert.equal(r.code, 250);
    assert.equal(r.dsn, '2.0.0');
    assert.equal(r.text, `Ok: queued as ${r.queueId}`);
    assert.equal(early, r.queueId);
    const msg = await h.store.get(r.queueId);
    assert.equal(msg?.queue, 'incoming');
    assert.equal(msg?.sender, 'joe@example.com');
    assert.deepEqual(msg?.recipients.map((x) => x.address), ['rcpt@example.org']);
    assert.equal(msg?.messageId, `<20240102030405.${r.queueId}@mail.example.com>`);
    const text = await h.content(r.queueId);
    assert.ok(!text.includes('\r'));
    assert.ok(!/^Return-Path:/m.test(text));
    assert.ok(!/^Bcc:/m.test(text));
    assert.match(text, new RegExp(`^Message-Id: <20240102030405\\.${r.queueId}@mail\\.example\\.com>$`, 'm'));
    assert.match(text, /^Date: \w{3}, [ \d]\d \w{3} 2024 \d\d:\d\d:\d\d [+-]\d{4}/m);
    assert.match(text, /^From: Joe User <joe@example\.com>$/m);
    assert.ok(text.endsWith('\n\nbody line\nlast line\n'));
    assert.ok(h.log.lines.includes(`${r.queueId}: message-id=<20240102030405.${r.queueId}@mail.example.com>`));
    await h.waitTrigger('I');
  });
});

test('remote SMTP client: headers left alone, existing Message-ID logged', async () => {
  await withCleanup({}, {}, async (h) => {
    const r = await h.submit({ client: REMOTE_CLIENT }, 'Message-ID: <abc@client.example>\nFrom: x\nSubject: s\n\nbody\n');
    assert.equal(r.status, 'queued');
    const text = await h.content(r.queueId);
    assert.equal(text, 'Message-ID: <abc@client.example>\nFrom: x\nSubject: s\n\nbody\n');
    assert.ok(h.log.lines.includes(`${r.queueId}: message-id=<abc@client.example>`));
    const r2 = await h.submit({ client: REMOTE_CLIENT }, 'Subject: none\n\nbody\n');
    assert.equal(await h.content(r2.queueId), 'Subject: none\n\nbody\n');
    assert.ok(h.log.lines.includes(`${r2.queueId}: message-id=<>`));
  });
});

test('a queue ID the client made is used and not reported back; a malformed one is ignored with a warning', async () => {
  await withCleanup({}, {}, async (h) => {
    const mine = newQueueId();
    const reported: string[] = [];
    const r = await h.submit({ queueId: mine, client: REMOTE_CLIENT }, 'Subject: s\n\nbody\n', (id) => reported.push(id));
    assert.deepEqual([r.status, r.queueId, reported], ['queued', mine, []]);
    assert.equal(await h.content(mine), 'Subject: s\n\nbody\n');
    const bad = await h.submit({ queueId: '../../etc', client: REMOTE_CLIENT }, 'Subject: s\n\nbody\n', (id) => reported.push(id));
    assert.equal(bad.status, 'queued');
    assert.deepEqual(reported, [bad.queueId]);
    assert.ok(isLongQueueId(bad.queueId));
    assert.ok(h.log.lines.includes('warning: smtpd: ignoring malformed queue ID "../../etc"'), h.log.lines.join('\n'));
    // the same ID twice: the second commit fails, nothing is overwritten
    const again = await h.submit({ queueId: mine, client: REMOTE_CLIENT }, 'Subject: other\n\nbody\n');
    assert.equal(again.status, 'tempfail');
    assert.equal(await h.content(mine), 'Subject: s\n\nbody\n');
  });
});

test('undisclosed_recipients_header and Resent- headers', async () => {
  await withCleanup({ undisclosed_recipients_header: 'To: undisclosed-recipients:;' }, {}, async (h) => {
    const r = await h.submit({ origin: 'pickup' }, 'Subject: s\n\nbody\n');
    assert.match(await h.content(r.queueId), /^To: undisclosed-recipients:;$/m);
    const r2 = await h.submit({ origin: 'pickup' }, 'Cc: a@example.org\nSubject: s\n\nbody\n');
    assert.doesNotMatch(await h.content(r2.queueId), /undisclosed/);
    const r3 = await h.submit({ origin: 'pickup' }, 'From: a@example.org\nDate: x\nMessage-Id: <m@x>\nTo: b@example.org\nResent-From: c@example.org\n\nbody\n');
    const text = await h.content(r3.queueId);
    assert.match(text, /^Resent-Message-Id: </m);
    assert.match(text, /^Resent-Date: /m);
    assert.doesNotMatch(text, /^Resent-From: c@example.org\n[\s\S]*^Resent-From:/m);
  });
});

test('canonical maps: envelope and headers, per class', async () => {
  await withCleanup(
    {
      canonical_maps: 'texthash:{dir}/canonical',
      sender_canonical_maps: 'texthash:{dir}/sender_canonical',
      recipient_canonical_maps: 'texthash:{dir}/recipient_canonical',
      recipient_canonical_classes: 'envelope_recipient',
      local_header_rewrite_clients: 'permit_mynetworks',
    },
    {
      canonical: 'old@example.com new@example.com\n@olddomain.example @newdomain.example\n',
      sender_canonical: 'joe@example.com Joe.User@example.com\n',
      recipient_canonical: 'rcpt@example.org mapped@example.org\n',
    },
    async (h) => {
      const r = await h.submit(
        { sender: 'joe', recipients: [{ address: 'rcpt@example.org' }, { address: 'old@example.com' }, { address: 'x@olddomain.example' }], client: TRUSTED_CLIENT },
        'From: joe\nTo: rcpt@example.org, Old Name <old@example.com>\nCc: someone (comment)\n\nbody\n',
      );
      assert.equal(r.status, 'queued');
      const msg = await h.store.get(r.queueId);
      assert.equal(msg?.sender, 'Joe.User@example.com');
      assert.deepEqual(
        msg?.recipients.map((x) => [x.address, x.original]),
        [
          ['mapped@example.org', 'rcpt@example.org'],
          ['new@example.com', 'old@example.com'],
          ['x@newdomain.example', 'x@olddomain.example'],
        ],
      );
      const text = await h.content(r.queueId);
      assert.match(text, /^From: Joe\.User@example\.com$/m);
      // recipient_canonical_maps is envelope-only here; canonical_maps applies to headers too.
      assert.match(text, /^To: rcpt@example\.org, Old Name <new@example\.com>$/m);
      assert.match(text, /^Cc: someone@example\.com \(comment\)$/m);
    },
  );
});

test('remote client: headers not rewritten unless remote_header_rewrite_domain is set', async () => {
  await withCleanup({ canonical_maps: 'texthash:{dir}/canonical' }, { canonical: 'old@example.com new@example.com\n' }, async (h) => {
    const r = await h.submit({ client: REMOTE_CLIENT, recipients: [{ address: 'old@example.com' }] }, 'To: old@example.com\n\nbody\n');
    assert.equal(await h.content(r.queueId), 'To: old@example.com\n\nbody\n');
    assert.equal((await h.store.get(r.queueId))?.recipients[0]?.address, 'new@example.com');
  });
});

test('virtual alias expansion: lists, recursion, self-reference, duplicates, extensions', async () => {
  await withCleanup(
    { virtual_alias_maps: 'texthash:{dir}/virtual', recipient_delimiter: '+' },
    {
      virtual: [
        'team@v.example   a@v.example, b@v.example',
        'a@v.example      alice@real.example',
        'b@v.example      b@v.example, bob@real.example',
        'ext@v.example    target@real.example',
        '@catch.example   @real.example',
      ].join('\n'),
    },
    async (h) => {
      const r = await h.submit(
        { recipients: [{ address: 'team@v.example' }, { address: 'a@v.example' }, { address: 'ext+tag@v.example' }, { address: 'who@catch.example' }] },
        MSG,
      );
      assert.equal(r.status, 'queued');
      const msg = await h.store.get(r.queueId);
      assert.deepEqual(
        msg?.recipients.map((x) => [x.address, x.original]),
        [
          ['alice@real.example', 'team@v.example'],
          ['b@v.example', 'team@v.example'],
          ['bob@real.example', 'team@v.example'],
          ['alice@real.example', 'a@v.example'],
          ['target+tag@real.example', 'ext+tag@v.example'],
          ['who@real.example', 'who@catch.example'],
        ],
      );
      // The same recipient twice (same original) is queued once.
      const r2 = await h.submit({ recipients: [{ address: 'a@v.example' }, { address: 'a@v.example' }] }, MSG);
      assert.equal((await h.store.get(r2.queueId))?.recipients.length, 1);
    },
  );
});

test('virtual alias limits: recursion and expansion size give 451 4.6.0 and queue nothing', async () => {
  await withCleanup(
    { virtual_alias_maps: 'texthash:{dir}/virtual', virtual_alias_recursion_limit: '5', virtual_alias_expansion_limit: '3' },
    {
      virtual: ['loop1@v.example loop2@v.example', 'loop2@v.example loop1@v.example', 'big@v.example a@x.example, b@x.example, c@x.example, d@x.example'].join('\n'),
    },
    async (h) => {
      const r = await h.submit({ recipients: [{ address: 'loop1@v.example' }] }, MSG);
      assert.deepEqual([r.status, r.code, r.dsn, r.text], ['tempfail', 451, '4.6.0', 'Alias expansion error']);
      assert.ok(h.log.lines.some((l) => l.includes('unreasonable virtual_alias_maps map nesting for loop1@v.example')));
      const r2 = await h.submit({ recipients: [{ address: 'big@v.example' }] }, MSG);
      assert.deepEqual([r2.status, r2.code, r2.dsn], ['tempfail', 451, '4.6.0']);
      assert.ok(h.log.lines.some((l) => l.includes('unreasonable virtual_alias_maps map expansion size for big@v.example')));
      assert.equal(await h.queued(), 0);
    },
  );
});

test('masquerading: domains, ! exceptions, masquerade_exceptions, classes', async () => {
  await withCleanup(
    {
      masquerade_domains: '!keep.example.com, example.com',
      masquerade_exceptions: 'root',
      local_header_rewrite_clients: 'permit_mynetworks',
    },
    {},
    async (h) => {
      const r = await h.submit(
        { sender: 'user@host.example.com', recipients: [{ address: 'rcpt@host.example.com' }], client: TRUSTED_CLIENT },
        'From: user@host.example.com\nTo: a@x.keep.example.com, root@host.example.com, b@deep.host.example.com\n\nbody\n',
      );
      const msg = await h.store.get(r.queueId);
      assert.equal(msg?.sender, 'user@example.com');
      // envelope_recipient is not in masquerade_classes by default.
      assert.equal(msg?.recipients[0]?.address, 'rcpt@host.example.com');
      const text = await h.content(r.queueId);
      assert.match(text, /^From: user@example\.com$/m);
      assert.match(text, /^To: a@x\.keep\.example\.com, root@host\.example\.com, b@example\.com$/m);
    },
  );
});

test('always_bcc, sender_bcc_maps and recipient_bcc_maps add recipients', async () => {
  await withCleanup(
    {
      always_bcc: 'archive@example.com',
      sender_bcc_maps: 'inline:{ {sender@example.com=sent-copy@example.com} }',
      recipient_bcc_maps: 'inline:{ {rcpt@example.org=rcpt-copy@example.com} }',
    },
    {},
    async (h) => {
      const r = await h.submit({}, MSG);
      const msg = await h.store.get(r.queueId);
      assert.deepEqual(msg?.recipients.map((x) => x.address).sort(), ['archive@example.com', 'rcpt-copy@example.com', 'rcpt@example.org', 'sent-copy@example.com']);
      // noBccMaps turns them off.
      const r2 = await h.submit({ flags: { noBccMaps: true } }, MSG);
      assert.deepEqual((await h.store.get(r2.queueId))?.recipients.map((x) => x.address), ['rcpt@example.org']);
    },
  );
});

test('sendmail -t: recipients from To/Cc/Bcc, or only Resent- ones when present', async () => {
  await withCleanup({}, {}, async (h) => {
    const r = await h.submit(
      { origin: 'pickup', recipients: [], flags: { extractRecipients: true } },
      'To: a@example.org, B <b@example.org>\nCc: c@example.org\nBcc: d@example.org\nSubject: s\n\nbody\n',
    );
    assert.equal(r.status, 'queued');
    assert.deepEqual((await h.store.get(r.queueId))?.recipients.map((x) => x.address), ['a@example.org', 'b@example.org', 'c@example.org', 'd@example.org']);
    assert.doesNotMatch(await h.content(r.queueId), /^Bcc:/m);
    const r2 = await h.submit(
      { origin: 'pickup', recipients: [], flags: { extractRecipients: true } },
      'To: a@example.org\nResent-To: r@example.org\nResent-Bcc: s@example.org\n\nbody\n',
    );
    assert.deepEqual((await h.store.get(r2.queueId))?.recipients.map((x) => x.address), ['r@example.org', 's@example.org']);
    const r3 = await h.submit({ origin: 'pickup', recipients: [], flags: { extractRecipients: true } }, 'Subject: none\n\nbody\n');
    assert.deepEqual([r3.status, r3.code, r3.dsn], ['rejected', 550, '5.1.0']);
  });
});
