import { test } from 'node:test';
import assert from 'node:assert/strict';
import { headerLines, lineWrap, mailDate, maskText } from '../src/bounce-dsn.js';
import { latestPerRecipient, wantsNotice, type NotifyFilter } from '../src/bounce-recipients.js';
import { qualifyFrom, quoteAddress, toLf } from '../src/bounce-notify.js';
import type { DsnNotify } from '@postern/core';

test('lineWrap breaks at blanks within 79 columns and indents continuations by 4', () => {
  const cases: { text: string; want: string[] }[] = [
    { text: 'short line', want: ['short line'] },
    { text: 'trailing blanks   ', want: ['trailing blanks'] },
    {
      text: `<a@b>: ${'word '.repeat(30).trim()}`,
      want: [
        `<a@b>: ${'word '.repeat(14).trim()}`,
        `    ${'word '.repeat(15).trim()}`,
        '    word',
      ],
    },
    // A word longer than the line is not broken.
    { text: `x ${'y'.repeat(100)} z`, want: ['x', `    ${'y'.repeat(100)}`, '    z'] },
  ];
  for (const c of cases) {
    const got = lineWrap(c.text);
    assert.deepEqual(got, c.want, c.text);
    for (const line of got) if (!line.includes('y'.repeat(100))) assert.ok(line.length <= 79);
  }
});

test('mailDate is an RFC 5322 date in local time', () => {
  const ms = Date.UTC(2024, 1, 29, 13, 5, 9);
  const s = mailDate(ms);
  assert.match(s, /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} [+-]\d{4}( \([A-Z]+\))?$/);
  assert.equal(Date.parse(s.replace(/ \([A-Z]+\)$/, '')), ms);
});

test('maskText masks control characters, and non-ASCII in 7-bit notices', () => {
  assert.equal(maskText('a\tb\x07c\x7f', true), 'a?b?c?');
  assert.equal(maskText('zoë', true), 'zoë');
  assert.equal(maskText('zoë', false), 'zo?');
});

test('headerLines stops at the first line that is not a header', () => {
  const cases: [string, string][] = [
    ['A: 1\nB: 2\n\nbody\n', 'A: 1\nB: 2\n'],
    ['A: 1\n folded\nB: 2\n\nbody', 'A: 1\n folded\nB: 2\n'],
    ['A: 1\nnot a header\nB: 2\n', 'A: 1\n'],
    ['A: 1', 'A: 1'],
  ];
  for (const [input, want] of cases) assert.equal(headerLines(Buffer.from(input)).toString(), want, input);
});

test('NOTIFY filtering (RFC 3461 defaults)', () => {
  const cases: [readonly DsnNotify[] | undefined, NotifyFilter, boolean][] = [
    [undefined, 'FAILURE', true],
    [undefined, 'DELAY', true],
    [undefined, 'SUCCESS', false],
    [[], 'FAILURE', true],
    [['NEVER'], 'FAILURE', false],
    [['NEVER'], 'DELAY', false],
    [['NEVER'], 'OVERRIDE', true],
    [['SUCCESS'], 'SUCCESS', true],
    [['SUCCESS'], 'FAILURE', false],
    [['FAILURE'], 'DELAY', false],
    [['FAILURE', 'DELAY'], 'DELAY', true],
    [['DELAY'], 'FAILURE', false],
  ];
  for (const [notify, filter, want] of cases) assert.equal(wantsNotice(notify, filter), want, `${JSON.stringify(notify)} ${filter}`);
});

test('latestPerRecipient keeps the last record of each recipient in log order', () => {
  const r = (recipient: string, reason: string, original?: string) => ({ recipient, reason, status: '4.0.0', action: 'delayed', time: 1, ...(original && { original }) });
  const got = latestPerRecipient([r('a@x', '1'), r('b@x', '1'), r('A@x', '2'), r('b@x', '3', 'list@x')]);
  assert.deepEqual(
    got.map((x) => [x.recipient, x.reason]),
    [
      ['b@x', '1'],
      ['A@x', '2'],
      ['b@x', '3'],
    ],
  );
});

test('address helpers: quoting, From: qualification, CRLF', () => {
  assert.equal(quoteAddress('alice@example.org'), 'alice@example.org');
  assert.equal(quoteAddress('first last@example.org'), '"first last"@example.org');
  assert.equal(quoteAddress('a"b@example.org'), '"a\\"b"@example.org');
  const q = (a: string) => `${a}@mx.example.com`;
  assert.equal(qualifyFrom('Mail Delivery System <MAILER-DAEMON>', q), 'Mail Delivery System <MAILER-DAEMON@mx.example.com>');
  assert.equal(qualifyFrom('MAILER-DAEMON (Mail Delivery System)', q), 'MAILER-DAEMON@mx.example.com (Mail Delivery System)');
  assert.equal(qualifyFrom('Bounces <bounce@example.net>', q), 'Bounces <bounce@example.net>');
  assert.equal(toLf(Buffer.from('a\r\nb\rc\r\n')).toString(), 'a\nb\rc\n');
});
