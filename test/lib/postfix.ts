/**
 * A real Postfix 3.7 instance (the Debian package) for interoperability
 * tests: its own configuration and queue in a temporary directory, started
 * with `postfix -c DIR start`, loopback only, no smtpd listener; mail goes in
 * through its sendmail. Tests skip when Postfix is not installed.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const POSTFIX_MISSING =
  !existsSync('/usr/sbin/postfix') || !existsSync('/etc/postfix/master.cf') || process.getuid?.() !== 0 || spawnSync('id', ['postfix']).status !== 0
    ? 'needs the Debian postfix package and root'
    : undefined;

export class PostfixInstance {
  readonly dir: string;
  readonly configDir: string;
  readonly logFile: string;

  constructor(main: Readonly<Record<string, string>>) {
    this.dir = mkdtempSync(join(tmpdir(), 'postern-postfix-'));
    chmodSync(this.dir, 0o755);
    this.configDir = join(this.dir, 'etc');
    this.logFile = join(this.dir, 'maillog');
    mkdirSync(this.configDir);
    mkdirSync(join(this.dir, 'queue'));
    mkdirSync(join(this.dir, 'data'));
    const uid = Number(spawnSync('id', ['-u', 'postfix']).stdout.toString());
    chownSync(join(this.dir, 'data'), uid, -1);
    copyFileSync('/etc/postfix/master.cf', join(this.configDir, 'master.cf'));
    // no smtpd listener (this instance only sends), and no chroot (Debian's default is y;
    // a chrooted lmtp(8) would see unix socket paths relative to its queue directory)
    const master = readFileSync(join(this.configDir, 'master.cf'), 'utf8')
      .replace(/^smtp(\s+)inet\s/m, '#smtp inet ')
      .replace(/^(\S+\s+\S+\s+\S+\s+\S+\s+)y(\s)/gm, '$1n$2');
    writeFileSync(join(this.configDir, 'master.cf'), master);
    const base: Record<string, string> = {
      compatibility_level: '3.6',
      queue_directory: join(this.dir, 'queue'),
      data_directory: join(this.dir, 'data'),
      maillog_file_prefixes: this.dir,
      maillog_file: this.logFile,
      myhostname: 'postfix.example.test',
      mydestination: '',
      inet_interfaces: 'loopback-only',
      inet_protocols: 'ipv4',
      mynetworks: '127.0.0.0/8',
      smtp_dns_support_level: 'disabled',
      alias_maps: '',
      alias_database: '',
      ...main,
    };
    writeFileSync(join(this.configDir, 'main.cf'), Object.entries(base).map(([k, v]) => `${k} = ${v}\n`).join(''));
  }

  private postfix(command: string): void {
    const r = spawnSync('/usr/sbin/postfix', ['-c', this.configDir, command], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`postfix ${command} failed (${r.status}): ${r.stderr}\n${this.log}`);
  }

  start(): void {
    this.postfix('start');
  }

  /** Postfix's sendmail -f SENDER RCPT...; the message text on stdin. */
  sendmail(sender: string, recipients: readonly string[], message: string): void {
    const r = spawnSync('/usr/sbin/sendmail', ['-C', this.configDir, '-f', sender, '--', ...recipients], { input: message, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`sendmail failed (${r.status}): ${r.stderr}`);
  }

  get log(): string {
    return existsSync(this.logFile) ? readFileSync(this.logFile, 'utf8') : '';
  }

  async waitForLog(pattern: RegExp, timeoutMs = 20_000): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = this.log.match(pattern);
      if (m) return m;
      if (Date.now() > deadline) throw new Error(`Postfix logged nothing matching ${pattern} within ${timeoutMs} ms; log:\n${this.log}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  dispose(): void {
    spawnSync('/usr/sbin/postfix', ['-c', this.configDir, 'stop']);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
