/**
 * The help of every postern command: its synopsis (as the Postfix manual
 * page has it) and one line per flag. `postern help [command]` and
 * `postern command --help` print it.
 */

export interface CommandHelp {
  /** The Postfix command it stands for. */
  readonly postfix: string;
  readonly synopsis: string;
  readonly flags: readonly (readonly [flag: string, text: string])[];
  /** Takes -v itself (so postern's global -v is passed on). */
  readonly verbose: boolean;
}

const C = ['-c config_dir', 'the configuration directory (default: $MAIL_CONFIG, else ~/.postern/etc)'] as const;
const V = ['-v', 'verbose logging; more -v, more verbose'] as const;
const LIFE = (text: string): CommandHelp => ({ postfix: `postfix ${text}`, synopsis: '[-c config_dir] [-v]', flags: [C, V], verbose: true });

export const COMMAND_HELP: Readonly<Record<string, CommandHelp>> = {
  start: { ...LIFE('start'), postfix: 'postfix start: start the mail system in the background' },
  'start-fg': { ...LIFE('start-fg'), postfix: 'postfix start-fg: run master in the foreground, maillog on stdout (containers, systemd)' },
  stop: { ...LIFE('stop'), postfix: 'postfix stop: stop the mail system, letting work in progress finish' },
  abort: { ...LIFE('abort'), postfix: 'postfix abort: stop the mail system at once' },
  reload: { ...LIFE('reload'), postfix: 'postfix reload: re-read main.cf and master.cf' },
  status: { ...LIFE('status'), postfix: 'postfix status: is the mail system running' },
  check: { ...LIFE('check'), postfix: 'postfix check: check the configuration, the installed packages and the restrictions' },
  'set-permissions': { ...LIFE('set-permissions'), postfix: 'postfix set-permissions: owners and modes of the queue and the maildrop directory (1733)' },
  'upgrade-configuration': { ...LIFE('upgrade-configuration'), postfix: 'postfix upgrade-configuration: add the master.cf entries post-install adds when missing' },
  tls: {
    postfix: 'postfix tls: TLS keys, certificates and settings of the SMTP server and client (postfix-tls(1))',
    synopsis: '[-c config_dir] enable-client|enable-server|new-server-key|new-server-cert|deploy-server-cert|output-server-csr|output-server-tlsa|all-default-client|all-default-server [options]',
    flags: [
      C,
      ['-a rsa', 'the private key algorithm (Postern has one smtpd key and certificate pair: rsa)'],
      ['-b bits', 'the RSA key size (default 2048)'],
      ['-r source', 'tls_random_source to set'],
      ['-k keyfile', 'output-server-csr: the key of the request'],
      ['-h hostname', 'output-server-tlsa: the name of the TLSA records (default $myhostname)'],
    ],
    verbose: false,
  },
  flush: { ...LIFE('flush'), postfix: 'postfix flush: attempt to deliver every queued message (postqueue -f)' },
  conf: {
    postfix: 'postconf(1): show or edit main.cf and master.cf',
    synopsis: '[-c config_dir] [-aAbdeFfHhlMmnPptxX#] [-C class] [-o name=value] [-T mode] [name[=value]...]',
    flags: [
      C,
      ['-a, -A', 'SASL plug-in types of the SMTP server, of the SMTP client'],
      ['-b, -t [file]', 'the bounce templates, expanded (-b) or as written (-t)'],
      ['-C class', 'only builtin, service or user parameters (or all)'],
      ['-d', 'print default values instead of the values in main.cf'],
      ['-e', 'edit: set each name=value given (implied by an "=")'],
      ['-f', 'fold long lines (with -n, -M, -P)'],
      ['-F', 'master.cf fields: service/type/field[=value]'],
      ['-h, -H', 'print values only, names only'],
      ['-l, -m', 'mailbox lock methods, lookup table types'],
      ['-M', 'master.cf entries (service/type names select)'],
      ['-n', 'only the parameters set in main.cf'],
      ['-o name=value', 'override a main.cf parameter for this command'],
      ['-p', 'main.cf parameters (the default)'],
      ['-P', 'master.cf -o parameters: service/type/parameter[=value]'],
      ['-T mode', 'compile-version, run-version, public-key-algorithms'],
      ['-x', 'expand $name in values'],
      ['-X', 'remove the named parameters (with -M, -P: entries, -o parameters)'],
      ['-#', 'comment out the named parameters (with -M: entries)'],
    ],
    verbose: false,
  },
  map: tableHelp('postmap(1): build and query lookup tables', [
    ['-b', 'with -q -: the body lines of a message on stdin are the keys (body_checks)'],
    ['-F', 'values are files, stored base64-encoded; -q and -s decode them'],
    ['-h', 'with -q -: the header lines of a message on stdin are the keys (header_checks)'],
    ['-m', 'with -b, -h: parse MIME (attachment headers are headers)'],
  ]),
  alias: tableHelp('postalias(1): build and query alias tables'),
  newaliases: { postfix: 'newaliases(1): rebuild alias_database', synopsis: '[-c config_dir] [-v]', flags: [C, V], verbose: true },
  queue: {
    postfix: 'postqueue(1): queue listing and flushing',
    synopsis: '[-v] [-c config_dir] -f | -i queue_id | -j | -p | -s site',
    flags: [
      C,
      ['-f', 'flush: attempt to deliver every queued message'],
      ['-i queue_id', 'attempt to deliver one message'],
      ['-j', 'the queue as JSON, one object a line'],
      ['-p', 'the queue listing (mailq); needs the showq service'],
      ['-s site', 'attempt to deliver the mail for site (fast_flush_domains)'],
      V,
    ],
    verbose: true,
  },
  super: {
    postfix: 'postsuper(1): queue maintenance',
    synopsis: '[-psSv] [-c config_dir] [-d|-e|-f|-h|-H|-r queue_id|ALL [queue]]',
    flags: [
      C,
      ['-d queue_id', 'delete the message (- reads IDs from stdin; ALL: every message)'],
      ['-e queue_id', 'force-expire: returned to the sender at its next delivery attempt'],
      ['-f queue_id', 'force-expire, and release from hold'],
      ['-h queue_id', 'put the message on hold'],
      ['-H queue_id', 'release the message from hold'],
      ['-p', 'purge temporary files left by crashes'],
      ['-r queue_id', 'requeue: run the message through cleanup again'],
      ['-s', 'structure check and repair of the queue'],
      ['-S', 'as -s, without repairs'],
      V,
    ],
    verbose: true,
  },
  cat: {
    postfix: 'postcat(1): show queued messages',
    synopsis: '[-bdehoqrsv] [-c config_dir] -q queue_id...',
    flags: [
      C,
      ['-b', 'the body'],
      ['-d', 'the queue file as records, in its storage order'],
      ['-e', 'the envelope'],
      ['-h', 'the header'],
      ['-o', 'record offsets'],
      ['-q', 'arguments are queue IDs'],
      ['-r', 'the records in the order they were written (Postfix: follow pointer records)'],
      ['-s offset', 'start at this offset'],
      V,
    ],
    verbose: true,
  },
  log: {
    postfix: 'postlog(1): write a line to the maillog',
    synopsis: '[-iv] [-c config_dir] [-p priority] [-t tag] [text...]',
    flags: [C, ['-i', 'include the process ID'], ['-p priority', 'info, warn, error, fatal, panic'], ['-t tag', 'the program name'], V],
    verbose: true,
  },
  multi: {
    postfix: 'postmulti(1): run commands on every instance, create and manage instances',
    synopsis: '-l [-aRj] | -p [-a] | -x [-aR] [-g group] [-i name] [-c config_dir] [command...] | -e init|create|import|destroy|deport|enable|disable|assign [-i name] [-I name] [-G group] [param=value...]',
    flags: [
      C,
      ['-a', 'all instances (default); with -e create/import: the new one first'],
      ['-e action', 'init, create, import, destroy, deport, enable, disable, assign'],
      ['-g group', 'the instances of a group'],
      ['-G group', 'the group to assign (- for none)'],
      ['-i name', 'one instance (name, its suffix after postfix-, - for the primary, or a directory)'],
      ['-I name', 'the instance name to assign (postfix-..., - for none)'],
      ['-j', 'JSON, one object a line (with -l)'],
      ['-l', 'list: name, group, enabled, config_directory'],
      ['-p command', 'postern command on each instance (start: check on disabled ones; stop: reversed, disabled skipped)'],
      ['-R', 'reverse order (-l, -x)'],
      ['-x command', 'any command, with MAIL_CONFIG and the instance\'s directories in its environment'],
    ],
    verbose: false,
  },
  qshape: {
    postfix: 'qshape(1): queue domain and age distribution',
    synopsis: '[-lps] [-b bucket_count] [-t bucket_time] [-m min_subdomains] [-w width] [-c config_dir] [queue...]',
    flags: [
      C,
      ['-b bucket_count', 'number of age buckets (default 10)'],
      ['-l', 'linear bucket ages (default: doubling)'],
      ['-m min_subdomains', 'with -p, show a parent domain with at least this many subdomains (default 5)'],
      ['-N, -n', 'accepted (interim results)'],
      ['-p', 'also count parent domains'],
      ['-s', 'sender domains instead of recipient domains'],
      ['-t bucket_time', 'first bucket width in minutes (default 5)'],
      ['-w width', 'terminal width (more than 80)'],
    ],
    verbose: false,
  },
  kick: { postfix: 'postkick(1): send a trigger to a service', synopsis: '[-c config_dir] [-v] class service request', flags: [C, V], verbose: true },
  lock: {
    postfix: 'postlock(1): run a command with a mailbox locked',
    synopsis: '[-c config_dir] [-l lock_style] [-v] file command...',
    flags: [C, ['-l lock_style', 'flock, fcntl, dotlock (default: mailbox_delivery_lock)'], V],
    verbose: true,
  },
};

function tableHelp(postfix: string, extra: readonly (readonly [string, string])[] = []): CommandHelp {
  return {
    postfix,
    synopsis: `[-N${extra.length > 0 ? 'bFhm' : ''}finoprsuvw] [-c config_dir] [-d key] [-q key] [type:]file...`,
    flags: [
      C,
      ...extra,
      ['-d key', 'delete key (- reads keys from stdin)'],
      ['-f', 'do not fold keys to lowercase'],
      ['-i', 'incremental: add entries from stdin'],
      ['-N, -n', 'accepted (null-terminated keys do not apply to lmdb)'],
      ['-o', 'accepted (privileges are the CLI\'s)'],
      ['-p', 'create the table with mode 0644'],
      ['-q key', 'look key up (- reads keys from stdin)'],
      ['-r', 'replace duplicate entries'],
      ['-s', 'print every entry'],
      ['-u', 'accepted (UTF-8 checks)'],
      ['-w', 'ignore duplicate entries'],
      V,
    ],
    verbose: true,
  };
}

/** The text of `postern help command`, or undefined for a name that is not a command. */
export function commandHelp(name: string): string | undefined {
  const h = COMMAND_HELP[name];
  if (!h) return undefined;
  const width = Math.max(...h.flags.map(([f]) => f.length));
  const flags = h.flags.map(([f, t]) => `  ${f.padEnd(width)}  ${t}\n`).join('');
  return `usage: postern ${name} ${h.synopsis}\n${h.postfix}\n${flags}`;
}

/** The list of commands (postern help). */
export function usageSummary(): string {
  const names = Object.keys(COMMAND_HELP);
  const width = Math.max(...names.map((n) => n.length));
  const lines = names.map((n) => `  ${n.padEnd(width)}  ${COMMAND_HELP[n]!.postfix}\n`).join('');
  return (
    'usage: postern [-c config_dir] [-D] [-v] command [options]\n' +
    '       postern --version | help [command] | command --help\n' +
    `commands:\n${lines}`
  );
}
