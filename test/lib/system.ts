/**
 * A whole Postern mail system for end-to-end tests: the master.cf of the
 * default instance with smtpd on a free loopback port.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, Instance } from './instance.js';

export interface SystemOptions {
  readonly main?: Readonly<Record<string, string>>;
  /** Deliver to Maildirs (mail_spool_directory with a trailing /) instead of mbox files. */
  readonly maildir?: boolean;
  /** The aliases(5) file (default: postmaster: root). */
  readonly aliases?: string;
  /** Runs once the instance's directories exist, before master starts; may return more main.cf settings. */
  readonly before?: (inst: Instance) => Readonly<Record<string, string>> | void;
  /** Extra master.cf lines. */
  readonly extraMaster?: string;
  /** Run master with `postern start` (logging to maillog_file) instead of start-fg (logging to stdout). */
  readonly daemon?: boolean;
}

export function masterCf(smtpPort: number, extra = ''): string {
  return `# service type private unpriv chroot wakeup maxproc command
127.0.0.1:${smtpPort} inet n - n - - smtpd
cleanup   unix n - n - 0   cleanup
qmgr      unix n - n 300 1 qmgr
rewrite   unix - - n - -   trivial-rewrite
bounce    unix - - n - 0   bounce
defer     unix - - n - 0   bounce
trace     unix - - n - 0   bounce
error     unix - - n - -   error
retry     unix - - n - -   error
discard   unix - - n - -   discard
local     unix - n n - -   local
virtual   unix - n n - -   virtual
smtp      unix - - n - -   smtp
relay     unix - - n - -   smtp
showq     unix n - n - -   showq
flush     unix n - n 1000? 0 flush
anvil     unix - - n - 1   anvil
${extra}`;
}

export interface MailSystem {
  readonly inst: Instance;
  readonly smtpPort: number;
  readonly mailDir: string;
  /** The mbox of local user `user`. */
  mbox(user: string): string;
}

export async function startSystem(options: SystemOptions = {}): Promise<MailSystem> {
  const smtpPort = await freePort();
  const inst = new Instance({ master: masterCf(smtpPort, options.extraMaster) });
  const mailDir = join(inst.dir, 'mail');
  mkdirSync(mailDir, { recursive: true, mode: 0o1777 });
  const more = options.before?.(inst) ?? {};
  inst.writeMain({
    mydestination: '$myhostname, localhost.$mydomain, localhost',
    local_recipient_maps: 'unix:passwd.byname $alias_maps',
    alias_maps: `lmdb:${join(inst.configDir, 'aliases')}`,
    alias_database: `lmdb:${join(inst.configDir, 'aliases')}`,
    mynetworks: '127.0.0.1/32',
    compatibility_level: '3.6',
    mail_spool_directory: options.maildir ? `${mailDir}/` : mailDir,
    default_privs: 'nobody',
    ...options.main,
    ...more,
  });
  writeFileSync(join(inst.configDir, 'aliases'), options.aliases ?? 'postmaster: root\n');
  const built = await inst.postern(['alias', join(inst.configDir, 'aliases')]);
  if (built.code !== 0) throw new Error(`postern alias: ${built.stderr}`);
  if (options.daemon) await inst.startDaemon();
  else await inst.start();
  return {
    inst,
    smtpPort,
    mailDir,
    mbox: (user) => readFileSync(join(mailDir, user), 'utf8'),
  };
}
