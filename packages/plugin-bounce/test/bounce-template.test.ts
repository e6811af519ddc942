import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isPosternError } from '@postern/core';
import { DEFAULT_TEMPLATES, expandTemplate, parseTemplate, parseTemplateFile, templateTimeValues } from '../src/bounce-template.js';
import { makeConfig } from './helpers.js';

// What Postfix 3.7's `postconf -b` prints for the built-in templates with
// myhostname = mx.example.com and the default delay_warning_time (0h) and
// maximal_queue_lifetime (5d).
const POSTCONF_B: Record<string, string> = {
  failure: `This is the mail system at host mx.example.com.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients. It's attached below.

For further assistance, please send mail to postmaster.

If you do so, please include this problem report. You can
delete your own text from the attached returned message.

                   The mail system`,
  delay: `This is the mail system at host mx.example.com.

####################################################################
# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #
####################################################################

Your message could not be delivered for more than 0 hour(s).
It will be retried until it is 5 day(s) old.

For further assistance, please send mail to postmaster.

If you do so, please include this problem report. You can
delete your own text from the attached returned message.

                   The mail system`,
  success: `This is the mail system at host mx.example.com.

Your message was successfully delivered to the destination(s)
listed below. If the message was delivered to mailbox you will
receive no further notifications. Otherwise you may still receive
notifications of mail delivery errors from other systems.

                   The mail system`,
  verify: `This is the mail system at host mx.example.com.

Enclosed is the mail delivery report that you requested.

                   The mail system`,
};

test('built-in templates expand as postconf -b shows them', () => {
  const config = makeConfig('/nonexistent');
  for (const cls of ['failure', 'delay', 'success', 'verify'] as const) {
    assert.equal(expandTemplate(DEFAULT_TEMPLATES[cls], config).join('\n'), POSTCONF_B[cls], cls);
  }
  assert.equal(DEFAULT_TEMPLATES.failure.subject, 'Undelivered Mail Returned to Sender');
  assert.equal(DEFAULT_TEMPLATES.failure.postmasterSubject, 'Postmaster Copy: Undelivered Mail');
  assert.equal(DEFAULT_TEMPLATES.delay.subject, 'Delayed Mail (still being retried)');
  assert.equal(DEFAULT_TEMPLATES.delay.postmasterSubject, 'Postmaster Warning: Delayed Mail');
  assert.equal(DEFAULT_TEMPLATES.success.postmasterSubject, undefined);
});

test('time parameters in whole units, truncated', () => {
  const config = makeConfig('/nonexistent', { delay_warning_time: '90m', maximal_queue_lifetime: '10d' });
  const v = templateTimeValues(config);
  assert.equal(v.delay_warning_time_seconds, '5400');
  assert.equal(v.delay_warning_time_minutes, '90');
  assert.equal(v.delay_warning_time_hours, '1');
  assert.equal(v.delay_warning_time_days, '0');
  assert.equal(v.maximal_queue_lifetime_weeks, '1');
  assert.equal(v.maximal_queue_lifetime_days, '10');
  // A bare number is in the parameter's own unit (hours for delay_warning_time, days for the lifetime).
  const bare = templateTimeValues(makeConfig('/nonexistent', { delay_warning_time: '3', maximal_queue_lifetime: '2' }));
  assert.equal(bare.delay_warning_time_hours, '3');
  assert.equal(bare.maximal_queue_lifetime_hours, '48');
});

test('template pseudo-headers: accepted and rejected (PTEST_CASE style)', () => {
  const cases: { name: string; cls: 'failure' | 'success'; text: string; ok: boolean; warn?: RegExp; check?: (t: NonNullable<ReturnType<typeof parseTemplate>>) => void }[] = [
    {
      name: 'all headers',
      cls: 'failure',
      text: 'Charset: us-ascii\nFrom: bounces <MAILER-DAEMON>\nSubject: oops\nPostmaster-Subject: pm oops\n\nline 1\nline 2',
      ok: true,
      check: (t) => {
        assert.equal(t.from, 'bounces <MAILER-DAEMON>');
        assert.equal(t.subject, 'oops');
        assert.equal(t.postmasterSubject, 'pm oops');
        assert.deepEqual(t.text, ['line 1', 'line 2']);
        assert.equal(t.encoding, '7bit');
      },
    },
    { name: 'text only keeps built-in headers', cls: 'failure', text: '\n\nJust text.', ok: true, check: (t) => assert.equal(t.subject, DEFAULT_TEMPLATES.failure.subject) },
    { name: 'unknown label', cls: 'failure', text: 'X-Foo: bar\n\ntext', ok: false, warn: /unknown "X-Foo" header label in failure template -- ignoring this template/ },
    { name: 'empty value', cls: 'failure', text: 'Subject:\n\ntext', ok: false, warn: /empty "Subject" header value/ },
    { name: 'postmaster subject for success', cls: 'success', text: 'Postmaster-Subject: x\n\ntext', ok: false, warn: /inapplicable "Postmaster-Subject" header label in success template/ },
    { name: 'no text', cls: 'failure', text: 'Subject: x\n\n\n', ok: false, warn: /missing message text in failure template/ },
    { name: '8-bit text with us-ascii', cls: 'failure', text: 'Subject: x\n\nGrüße', ok: false, warn: /8-bit message text in failure template/ },
    {
      name: '8-bit text with a charset',
      cls: 'failure',
      text: 'Charset: utf-8\nSubject: x\n\nGrüße',
      ok: true,
      check: (t) => {
        assert.equal(t.charset, 'utf-8');
        assert.equal(t.encoding, '8bit');
      },
    },
    { name: 'unknown time unit', cls: 'failure', text: 'Subject: x\n\nkept ${maximal_queue_lifetime_fortnights}', ok: false, warn: /unrecognized suffix "fortnights" in parameter "maximal_queue_lifetime_fortnights"/ },
    { name: 'non-ASCII header', cls: 'failure', text: 'Subject: Grüße\n\ntext', ok: false, warn: /non-ASCII "Subject" header value/ },
  ];
  for (const c of cases) {
    const warnings: string[] = [];
    const t = parseTemplate(c.cls, c.text, 'test.cf', (w) => warnings.push(w));
    assert.equal(t !== undefined, c.ok, c.name);
    if (c.warn) assert.match(warnings.join('\n'), c.warn, c.name);
    else assert.deepEqual(warnings, [], c.name);
    if (t && c.check) c.check(t);
  }
});

test('template file: here-documents, comments, unknown names, syntax errors', () => {
  const warnings: string[] = [];
  const ts = parseTemplateFile(
    [
      '# comment',
      '',
      'delay_template = <<END',
      'Subject: still trying',
      '',
      'Waited $delay_warning_time_hours hour(s).',
      'EOF is not the marker here',
      'END',
      '  # indented comment',
      'bogus_template = <<EOF',
      'Subject: x',
      '',
      'y',
      'EOF',
      'verify_template = <<EOF',
      'Subject: Bad',
      'Wrong: label',
      '',
      'text',
      'EOF',
    ].join('\n'),
    '/etc/postfix/bounce.cf',
    (w) => warnings.push(w),
  );
  assert.equal(ts.delay.subject, 'still trying');
  assert.deepEqual(ts.delay.text, ['Waited $delay_warning_time_hours hour(s).', 'EOF is not the marker here']);
  assert.equal(ts.delay.postmasterSubject, 'Postmaster Warning: Delayed Mail', 'unset headers keep their built-in value');
  assert.equal(ts.failure, DEFAULT_TEMPLATES.failure);
  assert.equal(ts.verify, DEFAULT_TEMPLATES.verify, 'a bad template is ignored');
  assert.match(warnings.join('\n'), /\/etc\/postfix\/bounce\.cf, line 10: unknown template name: bogus_template -- ignoring this template/);
  assert.match(warnings.join('\n'), /unknown "Wrong" header label in verify template/);

  assert.throws(
    () => parseTemplateFile('failure_template <<EOF\nEOF\n', 'x.cf', () => undefined),
    (err) => isPosternError(err, 'POSTERN_ERR_CONFIG_SYNTAX') && /x\.cf, line 1: missing '='/.test(err.message),
  );
  assert.throws(() => parseTemplateFile('failure_template = <<\n', 'x.cf', () => undefined), /missing end marker after <</);
  assert.throws(() => parseTemplateFile('failure_template = << -x\n', 'x.cf', () => undefined), /malformed end marker/);
  const w2: string[] = [];
  const unterminated = parseTemplateFile('success_template = <<EOF\nSubject: s\n\ntext', 'y.cf', (w) => w2.push(w));
  assert.equal(unterminated.success.subject, 's');
  assert.match(w2.join('\n'), /missing "EOF" end marker/);
});

test('time conversions that lose information are warned about, as Postfix does', () => {
  const config = makeConfig('/nonexistent', { delay_warning_time: '2h', maximal_queue_lifetime: '3d' });
  const tpl = parseTemplate('delay', 'Subject: x\n\n$delay_warning_time_seconds s, $maximal_queue_lifetime_weeks w, $delay_warning_time_hours h', 'b.cf', () => undefined);
  assert.ok(tpl);
  const warnings: string[] = [];
  assert.deepEqual(expandTemplate(tpl, config, (w) => warnings.push(w)), ['7200 s, 0 w, 2 h']);
  assert.match(warnings[0] ?? '', /^b\.cf: excessive result "7200" in delay template conversion of parameter "delay_warning_time_seconds"$/);
  assert.match(warnings.join('\n'), /b\.cf: zero result in delay template conversion of parameter "maximal_queue_lifetime_weeks"/);
  assert.equal(warnings.length, 6);
});
