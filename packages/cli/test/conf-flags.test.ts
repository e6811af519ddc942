// postconf(1)'s flags as `postern conf` has them: each compared with Postfix's documented
// output, and with the real /usr/sbin/postconf on the same files where it is installed.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SHIM = fileURLToPath(new URL('../../bin/postern.js', import.meta.url));
const POSTCONF = '/usr/sbin/postconf';
const REAL = existsSync(POSTCONF) ? false : 'the real Postfix postconf (/usr/sbin/postconf) is not installed';

const MASTER = [
  'smtp      inet  n       -       y       -       -       smtpd',
  'pickup    unix  n       -       y       60      1       pickup',
  'cleanup   unix  n       -       y       -       0       cleanup',
  'relay     unix  -       -       y       -       -       smtp',
  '        -o syslog_name=postfix/$service_name',
  '#       -o smtp_helo_timeout=5 -o smtp_connect_timeout=5',
  'maildrop  unix  -       n       n       -       -       pipe',
  '  flags=DRXhu user=vmail argv=/usr/bin/maildrop -d ${recipient}',
  'submission inet n       -       y       -       -       smtpd',
  '  -o syslog_name=postfix/submission',
  '  -o smtpd_tls_security_level=encrypt',
  '  -o { smtpd_client_restrictions = permit_sasl_authenticated, reject }',
  '  -v',
  '',
].join('\n');
const LONG = 'smtpd_recipient_restrictions = permit_mynetworks, permit_sasl_authenticated,   reject_unauth_destination, check_policy_service unix:private/policy, reject_rbl_client zen.spamhaus.org';
const MAIN = `a = 1\nb = 2\n  3\n# c\nd = 4\nmyhostname = mx.example.com\n${LONG}\n`;

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function configDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'postern-conf-'));
  dirs.push(dir);
  writeFileSync(join(dir, 'main.cf'), MAIN);
  writeFileSync(join(dir, 'master.cf'), MASTER);
  return dir;
}

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Warnings only Postern gives (parameters of packages that are not installed here). */
const clean = (text: string) =>
  text
    .split('\n')
    .filter((l) => !/not supported by the installed Postern packages|unused parameter|undefined parameter/.test(l))
    .join('\n');

function run(bin: 'postern' | 'postfix', dir: string, args: readonly string[]): Run {
  const r =
    bin === 'postern'
      ? spawnSync(process.execPath, [SHIM, 'conf', '-c', dir, ...args], { encoding: 'utf8' })
      : spawnSync(POSTCONF, ['-c', dir, ...args], { encoding: 'utf8', argv0: 'postconf' });
  return { status: r.status, stdout: r.stdout, stderr: clean(r.stderr).replaceAll(dir, 'DIR') };
}

const postern = (dir: string, ...args: string[]) => run('postern', dir, args);

/** Runs the same command with both programs on copies of the same files: output, status and files must agree. */
function same(args: readonly string[]): Run {
  const a = configDir();
  const b = configDir();
  const mine = run('postern', a, args);
  const theirs = run('postfix', b, args);
  const norm = (r: Run, dir: string): Run => ({ status: r.status, stdout: r.stdout.replaceAll(dir, 'DIR'), stderr: r.stderr.replaceAll(dir, 'DIR') });
  assert.deepEqual(norm(mine, a), norm(theirs, b), `postconf ${args.join(' ')}`);
  for (const f of ['main.cf', 'master.cf']) assert.equal(readFileSync(join(a, f), 'utf8'), readFileSync(join(b, f), 'utf8'), `${f} after postconf ${args.join(' ')}`);
  return mine;
}

test('-l lists the mailbox lock methods; -a the smtpd SASL types; -A is empty (built-in SASL client)', () => {
  const dir = configDir();
  assert.deepEqual(postern(dir, '-l'), { status: 0, stdout: 'flock\nfcntl\ndotlock\n', stderr: '' });
  assert.equal(postern(dir, '-a').stdout, 'dovecot\npostern-table\n');
  assert.deepEqual(postern(dir, '-A'), { status: 0, stdout: '', stderr: '' });
});

test('-m lists the table types, sorted, including lmdb, regexp, pcre and inline', () => {
  const r = postern(configDir(), '-m');
  assert.equal(r.status, 0, r.stderr);
  const types = r.stdout.trim().split('\n');
  assert.deepEqual(types, [...types].sort());
  for (const t of ['lmdb', 'regexp', 'pcre', 'cidr', 'inline', 'static', 'texthash']) assert.ok(types.includes(t), `${t} in ${r.stdout}`);
});

test('-T: OpenSSL versions, public key algorithms, unknown mode (warning, exit 1)', () => {
  const dir = configDir();
  assert.equal(postern(dir, '-T', 'compile-version').stdout, `OpenSSL ${process.versions.openssl}\n`);
  assert.equal(postern(dir, '-T', 'run-version').stdout, `OpenSSL ${process.versions.openssl}\n`);
  assert.equal(postern(dir, '-T', 'public-key-algorithms').stdout, 'dsa\necdsa\nrsa\n');
  assert.deepEqual(postern(dir, '-T', 'bogus'), { status: 1, stdout: '', stderr: "postconf: warning: unknown 'postconf -T' mode: bogus\n" });
});

test('-F shows master.cf fields as service/type/field = value; -H names, -h values; an unknown field is fatal', () => {
  const dir = configDir();
  assert.equal(
    postern(dir, '-F', 'pickup/unix').stdout,
    [
      'pickup/unix/service = pickup',
      'pickup/unix/type = unix',
      'pickup/unix/private = n',
      'pickup/unix/unprivileged = -',
      'pickup/unix/chroot = y',
      'pickup/unix/wakeup = 60',
      'pickup/unix/process_limit = 1',
      'pickup/unix/command = pickup',
      '',
    ].join('\n'),
  );
  assert.equal(postern(dir, '-Fh', 'pickup/unix/wakeup').stdout, '60\n');
  assert.equal(postern(dir, '-FH', '*/*/process_limit').stdout.split('\n')[1], 'pickup/unix/process_limit');
  assert.equal(
    postern(dir, '-F', 'submission/inet/command').stdout,
    'submission/inet/command = smtpd -o syslog_name=postfix/submission -o smtpd_tls_security_level=encrypt -o {smtpd_client_restrictions=permit_sasl_authenticated, reject} -v\n',
  );
  assert.deepEqual(postern(dir, '-F', 'smtp/inet/maxproc'), { status: 1, stdout: '', stderr: 'postconf: fatal: invalid service attribute name: "maxproc"\n' });
});

test('-P shows -o parameters sorted per entry; -x expands $service_name and keeps pipe variables', () => {
  const dir = configDir();
  assert.equal(
    postern(dir, '-P', 'submission').stdout,
    'submission/inet/smtpd_client_restrictions = permit_sasl_authenticated, reject\nsubmission/inet/smtpd_tls_security_level = encrypt\nsubmission/inet/syslog_name = postfix/submission\n',
  );
  assert.equal(postern(dir, '-xP', 'relay').stdout, 'relay/unix/syslog_name = postfix/relay\n');
  assert.match(postern(dir, '-xF', 'maildrop/unix/command').stdout, /argv=\/usr\/bin\/maildrop -d \$\{recipient\}\n$/);
  const none = postern(dir, '-P', 'submission/inet/nosuch');
  assert.equal(none.stderr, 'postconf: warning: unmatched request: "submission/inet/nosuch"\n');
});

test('-Pe, -PX, -Fe, -Me, -MX, -M# edit master.cf; the edited entry is written in the -Mf layout', () => {
  const dir = configDir();
  assert.equal(postern(dir, '-P', 'submission/inet/smtpd_tls_security_level=may', 'submission/inet/new_param=xy').status, 0);
  assert.equal(postern(dir, '-PX', 'submission/inet/syslog_name').status, 0);
  assert.equal(postern(dir, '-F', 'submission/inet/process_limit=7').status, 0);
  assert.ok(
    readFileSync(join(dir, 'master.cf'), 'utf8').endsWith(
      [
        'submission inet  n       -       y       -       7       smtpd',
        '    -o smtpd_tls_security_level=may',
        '    -o {smtpd_client_restrictions=permit_sasl_authenticated, reject}',
        '    -v',
        '    -o new_param=xy',
        '',
      ].join('\n'),
    ),
  );
  assert.equal(postern(dir, '-M#', 'pickup/unix').status, 0);
  assert.match(readFileSync(join(dir, 'master.cf'), 'utf8'), /^#pickup    unix  n       -       y       60      1       pickup$/m);
  assert.equal(postern(dir, '-MX', 'cleanup/unix').status, 0);
  assert.doesNotMatch(readFileSync(join(dir, 'master.cf'), 'utf8'), /^cleanup/m);
  assert.equal(postern(dir, '-Me', 'new/unix=new unix - - n - - pipe argv=/bin/cat').status, 0);
  assert.match(readFileSync(join(dir, 'master.cf'), 'utf8'), /\nnew        unix  -       -       n       -       -       pipe argv=\/bin\/cat\n$/);
  assert.deepEqual(postern(dir, '-P', 'submission/inet/x=a b'), { status: 1, stdout: '', stderr: 'postconf: fatal: -Pe does not accept whitespace in parameter value\n' });
  assert.deepEqual(postern(dir, '-F', 'smtp/inet/type=bad'), { status: 1, stdout: '', stderr: 'postconf: fatal: invalid type field "bad" in "bad"\n' });
});

test('-# comments out main.cf parameters (each line); name=value without -e edits', () => {
  const dir = configDir();
  assert.equal(postern(dir, '-#', 'b', 'd').status, 0);
  assert.equal(readFileSync(join(dir, 'main.cf'), 'utf8'), `a = 1\n#b = 2\n#  3\n# c\n#d = 4\nmyhostname = mx.example.com\n${LONG}\n`);
  assert.equal(postern(dir, 'a=9').status, 0);
  assert.match(readFileSync(join(dir, 'main.cf'), 'utf8'), /^a = 9$/m);
});

test('-H, -o, -C: names only, overrides for the query, parameter classes', () => {
  const dir = configDir();
  assert.equal(postern(dir, '-nH').stdout, 'config_directory\nmyhostname\nsmtpd_recipient_restrictions\n');
  assert.equal(postern(dir, '-x', '-o', 'mydomain=x.org', 'myorigin', 'mydomain').stdout, 'myorigin = mx.example.com\nmydomain = x.org\n');
  assert.match(postern(dir, '-n', '-o', 'mydomain=x.org').stdout, /^mydomain = x\.org$/m);
  assert.match(postern(dir, '-C', 'service').stdout, /^relay_delivery_slot_cost = \$default_delivery_slot_cost$/m);
  assert.doesNotMatch(postern(dir, '-C', 'builtin').stdout, /^relay_delivery_slot_cost/m);
  assert.deepEqual(postern(dir, '-C', 'bogus'), { status: 1, stdout: '', stderr: 'postconf: fatal: unknown -C option value "bogus" in "bogus"\n' });
});

test('-t prints the built-in bounce templates, -b expands them; a template file replaces one', () => {
  const dir = configDir();
  const t = postern(dir, '-t');
  assert.equal(t.status, 0, t.stderr);
  assert.match(t.stdout, /^failure_template = <<EOF\nCharset: us-ascii\nFrom: Mail Delivery System <MAILER-DAEMON>\nSubject: Undelivered Mail Returned to Sender\nPostmaster-Subject: Postmaster Copy: Undelivered Mail\n\nThis is the mail system at host \$myhostname\.\n/);
  assert.match(t.stdout, /\n\nverify_template = <<EOF\n[^]*\nEOF\n$/);
  const b = postern(dir, '-b');
  assert.match(b.stdout, /^expanded_failure_text = <<EOF\nThis is the mail system at host mx\.example\.com\.\n/);
  assert.match(b.stdout, /It will be retried until it is 5 day\(s\) old\./);
  writeFileSync(join(dir, 'tpl.cf'), 'failure_template = <<EOF\nCharset: utf-8\nSubject: Oops\n\nHi $myhostname $maximal_queue_lifetime_days.\nEOF\n');
  assert.match(postern(dir, '-b', join(dir, 'tpl.cf')).stdout, /^expanded_failure_text = <<EOF\nHi mx\.example\.com 5\.\nEOF\n\nexpanded_delay_text/);
  assert.deepEqual(postern(dir, '-t', 'a', 'b'), { status: 1, stdout: '', stderr: 'postconf: fatal: options -b and -t require at most one template file\n' });
});

test('-f folds long lines at 80 columns with a 4-space indent; white space between words is one space', () => {
  const dir = configDir();
  assert.equal(
    postern(dir, '-f', 'smtpd_recipient_restrictions').stdout,
    'smtpd_recipient_restrictions = permit_mynetworks, permit_sasl_authenticated,\n    reject_unauth_destination, check_policy_service unix:private/policy,\n    reject_rbl_client zen.spamhaus.org\n',
  );
  assert.match(postern(dir, 'smtpd_recipient_restrictions').stdout, /authenticated, reject_unauth_destination/);
  assert.equal(postern(dir, '-Ff', 'relay/unix/command').stdout, 'relay/unix/command = smtp\n    -o syslog_name=postfix/$service_name\n');
});

test('option combinations are refused as postconf refuses them', () => {
  const dir = configDir();
  const fatal = (args: string[], text: string) => assert.deepEqual(postern(dir, ...args), { status: 1, stdout: '', stderr: `postconf: fatal: ${text}\n` }, args.join(' '));
  fatal(['-a', '-m'], 'specify one of -a -m');
  fatal(['-d', '-n'], 'specify one of -d -n');
  fatal(['-n', '-M'], 'with option -M, do not specify -n');
  fatal(['-FX', 'smtp/inet/command'], 'with option -F, do not specify -X');
  fatal(['-M#', 'x'], '-Me, -MX or -M# requires service_name/type');
  fatal(['-P', 'x=y'], '-Pe or -PX requires service_name/type/parameter');
  fatal(['-X'], 'missing service argument');
  fatal(['-e'], '-e requires name=value argument');
});

test('the same output and the same files as the real postconf', { skip: REAL }, () => {
  // One case per flag and per edit form (each postern run loads every installed package: keep the list short).
  const cases = [
    ['-l'], ['-T', 'bogus'], ['-F'], ['-Ff'], ['-P'], ['-Mf'], ['-xF'], ['-t'], ['-b'], ['-nH'], ['-nf'], ['-n'],
    ['-x', '-o', 'mydomain=x.org', 'myorigin', 'mydomain'], ['-#', 'b', 'd'], ['b=7'],
    ['-P', 'submission/inet/smtpd_tls_security_level=may', 'submission/inet/new_param=xy', 'submission/inet/syslog_name='],
    ['-PX', 'relay/unix/syslog_name'], ['-P', 'maildrop/unix/a=b'], ['-F', 'submission/inet/command=smtpd -o a=b'],
    ['-M', 'new/unix=new unix - - n - - pipe argv=/bin/cat'], ['-M#', 'relay/unix'], ['-MX', 'submission'],
    ['-n', '-M'], ['-M', 'x/unix=x unix - -'], ['-F', 'smtp/inet/wakeup=q'], ['-Z'],
  ];
  for (const args of cases) same(args);
  // The template file: the same expansion of the same file.
  const dir = configDir();
  cpSync(join(dir, 'main.cf'), join(dir, 'copy.cf'));
  writeFileSync(join(dir, 'tpl.cf'), 'delay_template = <<EOF\nSubject: Late\n\nStill trying, $myhostname, $delay_warning_time_hours h.\nEOF\n');
  assert.equal(postern(dir, '-b', join(dir, 'tpl.cf')).stdout, run('postfix', dir, ['-b', join(dir, 'tpl.cf')]).stdout);
  assert.equal(postern(dir, '-t', join(dir, 'tpl.cf')).stdout, run('postfix', dir, ['-t', join(dir, 'tpl.cf')]).stdout);
});
