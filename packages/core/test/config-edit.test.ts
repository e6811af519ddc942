import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isPosternError } from '../src/errors.js';
import type { MasterEntry } from '../src/contracts/service.js';
import { editMainCf, editMainCfDetailed, formatMasterCf, formatMasterEntry, parseMainCf, parseMasterCf } from '../src/config/index.js';

const FIXTURES = fileURLToPath(new URL('../../test/fixtures/postfix/', import.meta.url));

const ORIGINAL = '# head\nmydestination = a\n  b\n# mid\n\n  c\nrelayhost = x\n# tail\nmyorigin = o\nrelayhost = y\n';

/** Expected texts produced by the real postconf 3.7 -e / -X on ORIGINAL. */
const EDIT_CASES = [
  {
    label: 'postconf -e: replace in place (every definition), drop continuations, keep comments, append new',
    edits: { set: { mydestination: 'new', relayhost: 'z', mynetworks: '1.2.3.4' } },
    want: '# head\nmydestination = new\n# mid\n\nrelayhost = z\n# tail\nmyorigin = o\nrelayhost = z\nmynetworks = 1.2.3.4\n',
    warnings: ['main.cf: multiple entries for "relayhost"'],
  },
  {
    label: 'postconf -X: remove entries and their continuation lines',
    edits: { remove: ['mydestination', 'relayhost', 'nosuch'] },
    want: '# head\n# mid\n\n# tail\nmyorigin = o\n',
    warnings: ['main.cf: multiple entries for "relayhost"'],
  },
  {
    label: 'postconf -e: empty value and $name kept as written',
    edits: { set: { myorigin: '$mydomain', relayhost: '' } },
    want: '# head\nmydestination = a\n  b\n# mid\n\n  c\nrelayhost = \n# tail\nmyorigin = $mydomain\nrelayhost = \n',
    warnings: ['main.cf: multiple entries for "relayhost"'],
  },
  { label: 'no edits: text unchanged', edits: {}, want: ORIGINAL, warnings: [] },
] as const;

for (const c of EDIT_CASES) {
  test(`editMainCf: ${c.label}`, () => {
    const result = editMainCfDetailed(ORIGINAL, c.edits);
    assert.equal(result.text, c.want);
    assert.deepEqual(result.warnings, c.warnings);
    assert.equal(editMainCf(ORIGINAL, c.edits), c.want);
  });
}

test('editMainCf: missing final newline, orphan lines, malformed lines kept', () => {
  assert.equal(editMainCf('relayhost = x', { set: { relayhost: '', myorigin: 'q' } }), 'relayhost = \nmyorigin = q\n');
  assert.equal(editMainCf('  orphan\nrelayhost = x\n', { set: { myorigin: 'q' } }), '  orphan\nrelayhost = x\nmyorigin = q\n');
  assert.equal(editMainCf('', { set: { a: '1' } }), 'a = 1\n');
  assert.equal(editMainCf('a = 1\n', { remove: ['a'] }), '');
});

test('editMainCf refuses bad names and multi-line values', () => {
  assert.throws(() => editMainCf('', { set: { 'a b': '1' } }), (e: unknown) => isPosternError(e, 'POSTERN_ERR_USAGE'));
  assert.throws(() => editMainCf('', { set: { a: '1\nb = 2' } }), (e: unknown) => isPosternError(e, 'POSTERN_ERR_USAGE'));
});

test('editMainCf round trip on main.cf.dist: comments kept, values changed, parse agrees', async () => {
  const text = await readFile(join(FIXTURES, 'main.cf.dist'), 'utf8');
  const orig = parseMainCf(text);
  const edited = editMainCf(text, { set: { myhostname: 'mx.example.com', data_directory: '/var/lib/postern' }, remove: ['command_directory'] });
  const comments = (t: string) => t.split('\n').filter((l) => l.trimStart().startsWith('#'));
  assert.deepEqual(comments(edited), comments(text));
  const cf = parseMainCf(edited);
  assert.equal(cf.params.get('myhostname')?.value, 'mx.example.com');
  assert.equal(cf.params.get('data_directory')?.value, '/var/lib/postern');
  assert.equal(cf.params.get('data_directory')?.line, orig.params.get('data_directory')!.line - 1, 'in place, one line up after the removal');
  assert.equal(cf.params.has('command_directory'), false);
  // Undo: the old value back, the appended name removed: the original text minus the removed line.
  const undone = editMainCf(edited, { set: { data_directory: orig.params.get('data_directory')!.value }, remove: ['myhostname'] });
  assert.equal(undone, text.split('\n').filter((l) => !l.startsWith('command_directory =')).join('\n'));
});

test('formatMasterCf matches postconf -M and -Mf on the Debian master.cf', async () => {
  const entries = parseMasterCf(await readFile(join(FIXTURES, 'master.cf.dist'), 'utf8'));
  assert.equal(formatMasterCf(entries), await readFile(join(FIXTURES, 'postconf-M.dist.txt'), 'utf8'));
  assert.equal(formatMasterCf(entries, { fold: true }), await readFile(join(FIXTURES, 'postconf-Mf.dist.txt'), 'utf8'));
});

test('formatMasterCf matches postconf -M on the admin guide master.cf', async () => {
  const entries = parseMasterCf(await readFile(join(FIXTURES, 'master.cf.admin-guide'), 'utf8'));
  assert.equal(formatMasterCf(entries), await readFile(join(FIXTURES, 'postconf-M.admin-guide.txt'), 'utf8'));
});

/** Expected lines printed by the real postconf 3.7 -M / -Mf for each master.cf text. */
const FORMAT_CASES = [
  {
    text: 'smtp inet n - y - - smtpd\n  -o { smtpd_client_restrictions = permit_mynetworks, reject }\n  # c\n  -o syslog_name=postfix/$service_name -v -D\n',
    flat: 'smtp       inet  n       -       y       -       -       smtpd -o {smtpd_client_restrictions=permit_mynetworks, reject} -o syslog_name=postfix/$service_name -v -D',
    folded: 'smtp       inet  n       -       y       -       -       smtpd\n    -o {smtpd_client_restrictions=permit_mynetworks, reject}\n    -o syslog_name=postfix/$service_name\n    -v -D',
  },
  {
    text: '127.0.0.1:2525 inet n - - - 0 smtpd -o smtpd_helo_required=yes arg1\n',
    flat: '127.0.0.1:2525 inet n    -       -       -       0       smtpd -o smtpd_helo_required=yes arg1',
    folded: '127.0.0.1:2525 inet n    -       -       -       0       smtpd\n    -o smtpd_helo_required=yes\n    arg1',
  },
  {
    text: 'smtp inet n - n - - smtpd -oa=b -o{c=d}\n',
    flat: 'smtp       inet  n       -       n       -       -       smtpd -o a=b -o c=d',
    folded: 'smtp       inet  n       -       n       -       -       smtpd\n    -o a=b\n    -o c=d',
  },
  {
    text: 'pipe1 unix - n n - - pipe x {a  b} user=x -o {  q = 1 } --\n',
    flat: 'pipe1      unix  -       n       n       -       -       pipe x {a  b} user=x -o {q = 1} --',
    folded: 'pipe1      unix  -       n       n       -       -       pipe x {a  b} user=x\n    -o {q = 1} --',
  },
  {
    text: 'foo unix - n n - 0 foo -v -t unix -o a=b -S -- -o b=c x\n',
    flat: 'foo        unix  -       n       n       -       0       foo -v -t unix -o a=b -S -- -o b=c x',
    folded: 'foo        unix  -       n       n       -       0       foo -v -t unix -o a=b\n    -S -- -o b=c x',
  },
  {
    text: 'veryveryverylongservicename unix - n n - 10 pipe flags=Rq user=cyrus argv=/usr/lib/cyrus/bin/deliver -e -r ${sender} -m ${extension} ${user} -o x=y\n',
    flat: 'veryveryverylongservicename unix - n n   -       10      pipe flags=Rq user=cyrus argv=/usr/lib/cyrus/bin/deliver -e -r ${sender} -m ${extension} ${user} -o x=y',
    folded: 'veryveryverylongservicename unix - n n   -       10      pipe flags=Rq\n    user=cyrus argv=/usr/lib/cyrus/bin/deliver -e -r ${sender} -m ${extension}\n    ${user} -o x=y',
  },
] as const;

for (const c of FORMAT_CASES) {
  test(`formatMasterEntry: ${c.text.split('\n')[0]}`, () => {
    const [e] = parseMasterCf(c.text);
    assert.equal(formatMasterEntry(e!), c.flat);
    assert.equal(formatMasterEntry(e!, { fold: true }), c.folded);
  });
}

test('formatMasterEntry works on a plain MasterEntry', () => {
  const entry: MasterEntry = {
    name: 'submission', type: 'inet', private: false, unprivileged: true, chroot: false, wakeup: 0, wakeupIfUsed: false,
    maxproc: 100, command: 'smtpd', args: [], overrides: { syslog_name: 'postfix/submission', smtpd_client_restrictions: 'permit_sasl_authenticated, reject' },
    flags: ['-v'], file: 'master.cf', line: 1,
  };
  const text = formatMasterEntry(entry);
  assert.equal(text, 'submission inet  n       y       n       -       100     smtpd -v -o syslog_name=postfix/submission -o {smtpd_client_restrictions=permit_sasl_authenticated, reject}');
  const [back] = parseMasterCf(text);
  assert.deepEqual(back?.overrides, entry.overrides);
  assert.deepEqual(back?.flags, entry.flags);
  const timer: MasterEntry = { ...entry, name: 'tlsmgr', type: 'unix', wakeup: 1000, wakeupIfUsed: true, maxproc: 1, flags: [], overrides: {}, command: 'tlsmgr' };
  assert.equal(formatMasterEntry(timer), 'tlsmgr     unix  n       y       n       1000?   1       tlsmgr');
});
