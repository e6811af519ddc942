/**
 * The MTA side of the milter protocol against scripted milters on loopback
 * sockets (each test's milter answers by a small rule), plus the message
 * parser and the edits, table-driven.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { atEndOfMessage, milterReply as reply, startMilterServer, type MilterReply } from '@postern/testkit';
import { applyContentEdits, formatMessage, MilterChain, MilterHeaderChecks, milterSpecs, parseMessage, SMFIF, SMFIP, type MilterConfig, type MilterEdit } from '../src/index.js';

/** Every action but SETSYMLIST: what the scripted milters ask for unless a test says otherwise. */
const ACTIONS = SMFIF.ADDHDRS | SMFIF.CHGBODY | SMFIF.ADDRCPT | SMFIF.DELRCPT | SMFIF.CHGHDRS | SMFIF.QUARANTINE | SMFIF.CHGFROM | SMFIF.ADDRCPT_PAR;

function config(smtpdMilters: string, extra: Record<string, string> = {}): MilterConfig {
  const values: Record<string, string> = {
    smtpd_milters: smtpdMilters,
    milter_protocol: '6',
    milter_default_action: 'tempfail',
    milter_connect_timeout: '5',
    milter_command_timeout: '5',
    milter_content_timeout: '5',
    milter_connect_macros: 'j {daemon_name} v _',
    milter_mail_macros: 'i {mail_addr}',
    queue_directory: '/nonexistent',
    ...extra,
  };
  return {
    get: (n) => values[n] ?? '',
    list: (n) => (values[n] ?? '').split(/[\s,]+/).filter(Boolean),
    time: (n) => Number(values[n] ?? 0),
  };
}

const str = (s: string) => Buffer.from(`${s}\0`);
const macros = (name: string): string | undefined => ({ j: 'mx.example', '{daemon_name}': 'mx.example', _: 'client [192.0.2.1]', '{client_addr}': '192.0.2.1', '{mail_addr}': 'a@example' })[name];

test('milterSpecs: plain and braced entries, per-milter settings, bad settings refused', () => {
  const c = config('inet:127.0.0.1:8891, { unix:private/m2, command_timeout=2s, default_action=accept, protocol=4 }', { milter_command_timeout: '30' });
  const [a, b] = milterSpecs(c, 'smtpd_milters');
  assert.equal(a!.endpoint, 'inet:127.0.0.1:8891');
  assert.equal(a!.commandTimeout, 30_000);
  assert.equal(a!.defaultAction, 'tempfail');
  assert.deepEqual([b!.endpoint, b!.commandTimeout, b!.defaultAction, b!.protocol], ['unix:private/m2', 2000, 'accept', 4]);
  assert.throws(() => milterSpecs(config('{ inet:127.0.0.1:1, default_action=maybe }'), 'smtpd_milters'), /bad default_action/);
  assert.throws(() => milterSpecs(config('{ inet:127.0.0.1:1, colour=red }'), 'smtpd_milters'), /unknown milter attribute/);
});

test('message edits, as cleanup_milter applies them', () => {
  const content = Buffer.from('Received: from x\n\tby y\nSubject: hi\nX-A: 1\nX-A: 2\n\nbody\n');
  const cases: { name: string; edits: MilterEdit[]; want: string }[] = [
    { name: 'no edits keep the message', edits: [], want: content.toString() },
    { name: 'add header goes last', edits: [{ op: 'addHeader', name: 'X-B', value: ' b' }], want: 'Received: from x\n\tby y\nSubject: hi\nX-A: 1\nX-A: 2\nX-B: b\n\nbody\n' },
    { name: 'insert at 0 goes first', edits: [{ op: 'insertHeader', index: 0, name: 'DKIM-Signature', value: ' v=1' }], want: 'DKIM-Signature: v=1\nReceived: from x\n\tby y\nSubject: hi\nX-A: 1\nX-A: 2\n\nbody\n' },
    { name: 'change the 2nd X-A', edits: [{ op: 'changeHeader', index: 2, name: 'x-a', value: ' two' }], want: 'Received: from x\n\tby y\nSubject: hi\nX-A: 1\nX-A: two\n\nbody\n' },
    { name: 'an empty value deletes', edits: [{ op: 'changeHeader', index: 1, name: 'Subject', value: '' }], want: 'Received: from x\n\tby y\nX-A: 1\nX-A: 2\n\nbody\n' },
    { name: 'change of a missing header adds it', edits: [{ op: 'changeHeader', index: 1, name: 'X-New', value: ' n' }], want: 'Received: from x\n\tby y\nSubject: hi\nX-A: 1\nX-A: 2\nX-New: n\n\nbody\n' },
    { name: 'replace body', edits: [{ op: 'replaceBody', body: Buffer.from('new\n') }], want: 'Received: from x\n\tby y\nSubject: hi\nX-A: 1\nX-A: 2\n\nnew\n' },
  ];
  for (const c of cases) {
    const msg = parseMessage(content);
    applyContentEdits(msg, c.edits);
    assert.equal(formatMessage(msg).toString(), c.want, c.name);
  }
  assert.deepEqual(parseMessage(content).headers[0], { name: 'Received', value: ' from x\n\tby y' });
});

test('negotiation: the milter\'s macro list (SETSYMLIST), skipped and unanswered steps', async () => {
  // stage 0 (connect): only {client_addr}; steps: no HELO, no reply to connect
  const symlist = Buffer.concat([Buffer.from([0, 0, 0, 0]), str('{client_addr}')]);
  const m = await startMilterServer({ actions: ACTIONS | SMFIF.SETSYMLIST, steps: SMFIP.NOHELO | SMFIP.NR_CONN, symlist, rule: (p) => (p.cmd === 'C' ? [] : undefined) });
  const chain = await MilterChain.open(milterSpecs(config(`inet:127.0.0.1:${m.port}`), 'smtpd_milters'), config(''), macros, () => undefined);
  assert.equal(await chain.connect('unknown', '192.0.2.1', 25, 'inet'), undefined);
  assert.equal(await chain.helo('client.example'), undefined);
  assert.equal(await chain.mail('a@example', ['SIZE=10']), undefined);
  chain.quit();
  const seen = m.packets;
  await m.stop();
  const cmds = seen.map((s) => s.cmd).join('');
  assert.equal(cmds, 'ODCDM', 'no HELO sent; macros before connect and MAIL');
  assert.deepEqual(seen[1]!.data.toString().split('\0'), ['C{client_addr}', '192.0.2.1', ''], 'only the macro the milter asked for');
  assert.equal(seen[2]!.data.subarray(0, 13).toString('latin1'), '[192.0.2.1]\x004');
  assert.equal(seen[2]!.data.readUInt16BE(13), 25);
  assert.deepEqual(seen[4]!.data.toString().split('\0'), ['<a@example>', 'SIZE=10', '']);
});

test('replies: reject, tempfail, a custom reply, progress, body skip, discard and quarantine', async () => {
  const m = await startMilterServer({
    actions: ACTIONS,
    rule: ({ cmd, args }) => {
      const arg = args[0] ?? '';
      if (cmd === 'M' && arg.includes('rej')) return reply.reject();
      if (cmd === 'M' && arg.includes('temp')) return reply.tempfail();
      if (cmd === 'R' && arg.includes('custom')) return reply.replyCode('553 5.1.8 not you');
      if (cmd === 'R') return [reply.progress(), reply.progress(), reply.continue()];
      if (cmd === 'B') return reply.skip();
      if (cmd === 'E') return [reply.quarantine('look at it'), reply.addRcpt('<new@example>'), reply.changeFrom('<other@example>'), reply.continue()];
      return undefined;
    },
  });
  const chain = await MilterChain.open(milterSpecs(config(`inet:127.0.0.1:${m.port}`), 'smtpd_milters'), config(''), macros, () => undefined);
  await chain.connect('host.example', '192.0.2.1', 25, 'inet');
  assert.equal(await chain.mail('rej@example'), '550 5.7.1 Command rejected');
  assert.equal(await chain.mail('temp@example'), '451 4.7.1 Service unavailable - try again later');
  assert.equal(await chain.mail('ok@example'), undefined);
  assert.equal(await chain.rcpt('custom@example'), '553 5.1.8 not you');
  assert.equal(await chain.rcpt('slow@example'), undefined, 'SMFIR_PROGRESS keeps waiting');
  const body = Buffer.alloc(200_000, 'x');
  const r = await chain.message(Buffer.concat([Buffer.from('Subject: s\n\n'), body]));
  assert.equal(r.reply, undefined);
  assert.equal(r.hold, 'look at it');
  assert.equal(r.sender, 'other@example');
  assert.deepEqual(r.addRecipients, ['new@example']);
  assert.equal(m.packets.filter((s) => s.cmd === 'B').length, 1, 'SMFIR_SKIP: no more body chunks');
  chain.quit();
  await m.stop();
});

test('failures: a silent milter times out, a malformed reply and a refused connection give the default action', async () => {
  const silent = await startMilterServer({
    actions: ACTIONS,
    rule: ({ cmd }) => {
      if (cmd === 'M') return []; // never answers
      if (cmd === 'R') return reply.replyCode('hello there');
      return undefined;
    },
  });
  const warnings: string[] = [];
  const c = config(`{ inet:127.0.0.1:${silent.port}, command_timeout=1s }`);
  const chain = await MilterChain.open(milterSpecs(c, 'smtpd_milters'), c, macros, (w) => warnings.push(w));
  await chain.connect('host.example', '192.0.2.1', 25, 'inet');
  const t0 = Date.now();
  assert.equal(await chain.mail('a@example'), '451 4.7.1 Service unavailable - try again later');
  assert.ok(Date.now() - t0 >= 900, 'waited for milter_command_timeout');
  assert.equal(await chain.rcpt('b@example'), '451 4.7.1 Service unavailable - try again later', 'the default action from then on');
  assert.match(warnings[0]!, /^milter inet:127\.0\.0\.1:\d+: timeout while sending M$/);
  chain.quit();

  const c2 = config(`{ inet:127.0.0.1:${silent.port}, default_action=accept }`);
  const chain2 = await MilterChain.open(milterSpecs(c2, 'smtpd_milters'), c2, macros, (w) => warnings.push(w));
  await chain2.connect('host.example', '192.0.2.1', 25, 'inet');
  assert.equal(await chain2.rcpt('b@example'), undefined, 'malformed reply, default_action=accept: go on');
  assert.ok(warnings.some((w) => /malformed reply: hello there/.test(w)));
  chain2.quit();
  await silent.stop();

  const c3 = config('{ inet:127.0.0.1:1, default_action=reject }');
  const chain3 = await MilterChain.open(milterSpecs(c3, 'smtpd_milters'), c3, macros, (w) => warnings.push(w));
  assert.equal(await chain3.connect('host.example', '192.0.2.1', 25, 'inet'), '550 5.5.0 Service unavailable');
  chain3.quit();
});

test('milter_content_timeout: a milter that stops answering during the message gives the default action', async () => {
  const m = await startMilterServer({ actions: ACTIONS, rule: (p) => (p.cmd === 'L' ? [] : undefined) });
  const warnings: string[] = [];
  const c = config(`{ inet:127.0.0.1:${m.port}, content_timeout=1s, command_timeout=10s, default_action=tempfail }`);
  const chain = await MilterChain.open(milterSpecs(c, 'smtpd_milters'), c, macros, (w) => warnings.push(w));
  await chain.connect('host.example', '192.0.2.1', 25, 'inet');
  assert.equal(await chain.mail('a@example'), undefined);
  const t0 = Date.now();
  const r = await chain.message(Buffer.from('Subject: s\n\nbody\n'));
  assert.equal(r.reply, '451 4.7.1 Service unavailable - try again later');
  assert.ok(Date.now() - t0 >= 900 && Date.now() - t0 < 5000, 'content_timeout, not command_timeout');
  assert.match(warnings[0]!, /timeout while sending L$/);
  chain.quit();
  await m.stop();
});

/**
 * milter_header_checks: two milters, the first adds, inserts or changes
 * headers at the end of the message (SMFIR_ADDHEADER 'h', INSHEADER 'i',
 * CHGHEADER 'm'), the second adds one of its own and counts the messages it
 * saw; the tables (a pattern table stand-in) see only the milters' headers.
 */
test('milter_header_checks: the actions on the headers milters add, insert or change, with their log lines', async () => {
  let editsA: MilterReply[] = [];
  const first = await startMilterServer({ actions: ACTIONS, rule: atEndOfMessage(() => editsA) });
  let seenB = 0;
  const second = await startMilterServer({
    actions: ACTIONS,
    rule: atEndOfMessage(() => {
      seenB++;
      return [reply.addHeader('X-Second', 'yes')];
    }),
  });
  const add = reply.addHeader;
  const ctx = { queueId: '4Q1', client: 'host.example[192.0.2.1]', sender: 'a@example', recipient: 'b@example', protocol: 'ESMTP', helo: 'client.example' };
  const tail = 'from host.example[192.0.2.1]; from=<a@example> to=<b@example> proto=ESMTP helo=<client.example>';
  const original = 'X-Spam: yes\nSubject: hello\n\nbody\n';
  const run = async (edits: MilterReply[], rules: [RegExp, string][], opts: { hold?: boolean; failing?: boolean } = {}) => {
    editsA = edits;
    const info: string[] = [];
    const warn: string[] = [];
    const table = {
      lookup: async (key: string) => {
        if (opts.failing) throw new Error('table is gone');
        return rules.find(([re]) => re.test(key))?.[1];
      },
    };
    const checks = new MilterHeaderChecks([table], { info: (t) => info.push(t), warn: (t) => warn.push(t) }, { ...ctx, hold: opts.hold });
    const c = config(`inet:127.0.0.1:${first.port}, inet:127.0.0.1:${second.port}`);
    const chain = await MilterChain.open(milterSpecs(c, 'smtpd_milters'), c, macros, () => undefined);
    await chain.connect('host.example', '192.0.2.1', 25, 'inet');
    await chain.mail('a@example');
    const before = seenB;
    const r = await chain.message(Buffer.from(original), checks);
    chain.quit();
    return { r, checks, info, warn, content: r.content.toString(), secondSaw: seenB > before };
  };
  try {
    const spam: [RegExp, string][] = [[/^X-Spam: yes/i, 'HOLD spam found']];

    // the message's own X-Spam: header does not trigger it; the milter's does
    let t = await run([], spam);
    assert.deepEqual([t.checks.held, t.info], [false, []]);
    t = await run([add('X-Spam', 'yes')], spam);
    assert.equal(t.checks.held, true);
    assert.deepEqual(t.info, [`4Q1: milter-header-hold: header X-Spam: yes ${tail}: spam found`]);
    assert.equal(t.content, 'X-Spam: yes\nSubject: hello\nX-Spam: yes\nX-Second: yes\n\nbody\n', 'HOLD keeps the header; the next milter runs');
    t = await run([add('X-Spam', 'yes')], spam, { hold: true });
    assert.deepEqual([t.checks.held, t.info], [false, []], 'a message on hold already: HOLD is not logged again');

    // REJECT: the triggering header and the later edits are not applied, the next milter is skipped
    t = await run([add('X-Virus', 'found'), add('X-After', 'x')], [[/^X-Virus:/, 'REJECT']]);
    assert.equal(t.checks.reply, '550 5.7.1 message content rejected');
    assert.deepEqual(t.info, [`4Q1: milter-header-reject: header X-Virus: found ${tail}: 5.7.1 message content rejected`]);
    assert.equal(t.content, original);
    assert.equal(t.secondSaw, false);
    t = await run([add('X-Virus', 'found')], [[/^X-Virus:/, 'REJECT 4.7.1 try later']]);
    assert.equal(t.checks.reply, '451 4.7.1 try later');
    t = await run([add('X-Virus', 'found')], [[/^X-Virus:/, 'REJECT 2.0.0 fine']]);
    assert.equal(t.checks.reply, '451 4.0.0 fine');
    assert.deepEqual(t.warn, ['bad DSN action in 2.0.0 fine -- need 4.x.x or 5.x.x']);

    // DISCARD, without text: the log line ends in ": " as Postfix's does
    t = await run([add('X-Virus', 'found')], [[/^X-Virus:/, 'DISCARD']]);
    assert.deepEqual([t.checks.discard, t.r.discard, t.secondSaw], [true, false, false]);
    assert.deepEqual(t.info, [`4Q1: milter-header-discard: header X-Virus: found ${tail}: `]);

    // REPLACE on a changed header, IGNORE on an inserted one, STRIP on an added one
    t = await run(
      [reply.changeHeader(1, 'Subject', 'buy now'), reply.insertHeader(0, 'X-Internal', 'secret'), add('X-Trace', 'abc')],
      [
        [/^Subject: buy now/, 'REPLACE X-Old-Subject: buy now'],
        [/^X-Internal:/, 'IGNORE'],
        [/^X-Trace:/, 'STRIP trace removed'],
      ],
    );
    assert.equal(t.content, 'X-Spam: yes\nX-Old-Subject: buy now\nX-Second: yes\n\nbody\n');
    assert.deepEqual(t.info, [`4Q1: milter-header-replace: header Subject: buy now ${tail}: X-Old-Subject: buy now`, `4Q1: milter-header-strip: header X-Trace: abc ${tail}: trace removed`]);

    // FILTER, BCC, WARN, INFO; REDIRECT then ends the actions: the HOLD after it does nothing
    t = await run(
      [add('X-F', '1'), add('X-B', '1'), add('X-W', '1'), add('X-I', '1'), add('X-R', '1'), add('X-Spam', 'yes')],
      [
        [/^X-F:/, 'FILTER scan:[127.0.0.1]:10025'],
        [/^X-B:/, 'BCC archive@example'],
        [/^X-W:/, 'WARN look'],
        [/^X-I:/, 'INFO note'],
        [/^X-R:/, 'REDIRECT trap@example'],
        ...spam,
      ],
    );
    assert.deepEqual([t.checks.filter, t.checks.bcc, t.checks.redirect, t.checks.held], ['scan:[127.0.0.1]:10025', ['archive@example'], 'trap@example', false]);
    assert.deepEqual(t.info, [
      `4Q1: milter-header-filter: header X-F: 1 ${tail}: scan:[127.0.0.1]:10025`,
      `4Q1: milter-header-bcc: header X-B: 1 ${tail}: archive@example`,
      `4Q1: milter-header-warning: header X-W: 1 ${tail}: look`,
      `4Q1: milter-header-info: header X-I: 1 ${tail}: note`,
      `4Q1: milter-header-redirect: header X-R: 1 ${tail}: trap@example`,
    ]);
    assert.equal(t.secondSaw, true, 'REDIRECT does not stop the milters');

    // PREPEND is logged and not implemented; bad arguments and unknown commands are warnings
    t = await run(
      [add('X-P', '1'), add('X-Q', '1'), add('X-Z', '1'), add('X-Y', '1')],
      [
        [/^X-P:/, 'PREPEND X-Tag: tagged'],
        [/^X-Q:/, 'REDIRECT nobody'],
        [/^X-Z:/, 'FROB it'],
        [/^X-Y:/, 'REPLACE not a header'],
      ],
    );
    assert.deepEqual(t.info, [`4Q1: milter-header-prepend: header X-P: 1 ${tail}: X-Tag: tagged`]);
    assert.deepEqual(t.warn, [
      'the milter_header/body_checks prepend action is not implemented',
      'bad REDIRECT target "nobody" in milter_header_checks map -- need user@domain',
      'unsupported command in milter_header_checks map: FROB it',
      'bad REPLACE header text "not a header" in milter_header_checks map -- need "headername: headervalue"',
    ]);
    assert.equal(t.content, 'X-Spam: yes\nSubject: hello\nX-P: 1\nX-Q: 1\nX-Z: 1\nX-Y: 1\nX-Second: yes\n\nbody\n');

    // a table that fails: the message is not accepted
    t = await run([add('X-A', '1')], [], { failing: true });
    assert.equal(t.checks.reply, '451 4.3.0 Error: queue file write error');
    assert.deepEqual(t.warn, ['4Q1: milter_header_checks map lookup problem -- message not accepted, try again later']);
  } finally {
    await first.stop();
    await second.stop();
  }
});
