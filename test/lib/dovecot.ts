/**
 * A real Dovecot LMTP server (dovecot-lmtpd) with a configuration of its own
 * in a temp directory: user alice (any domain), Maildir under the directory.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { freePort } from './instance.js';

export const DOVECOT = ['/usr/sbin/dovecot', '/usr/local/sbin/dovecot'].find((p) => existsSync(p));

export interface Dovecot {
  readonly port: number;
  /** Alice's delivered messages (Maildir new/). */
  messages(): string[];
  stop(): Promise<void>;
}

export async function startDovecot(): Promise<Dovecot> {
  if (!DOVECOT) throw new Error('dovecot is not installed');
  const dir = mkdtempSync(join(tmpdir(), 'postern-dovecot-'));
  const port = await freePort();
  const me = userInfo();
  const group = execFileSync('id', ['-gn']).toString().trim();
  mkdirSync(join(dir, 'run'));
  mkdirSync(join(dir, 'mail'));
  writeFileSync(
    join(dir, 'dovecot.conf'),
    `base_dir = ${dir}/run
state_dir = ${dir}/state
log_path = ${dir}/dovecot.log
instance_name = postern-test-${port}
protocols = lmtp
listen = 127.0.0.1
ssl = no
default_internal_user = ${me.username}
default_internal_group = ${group}
default_login_user = ${me.username}
first_valid_uid = 1
first_valid_gid = 0
auth_username_format = %Ln
mail_location = maildir:${dir}/mail/%n
passdb {
  driver = passwd-file
  args = ${dir}/passwd
}
userdb {
  driver = passwd-file
  args = ${dir}/passwd
}
service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = ${port}
  }
}
`,
  );
  // Dovecot refuses UID 0 for mail users: as root, deliver as nobody into a world-writable directory.
  let { uid, gid } = me;
  if (uid === 0) {
    uid = Number(execFileSync('id', ['-u', 'nobody']).toString().trim());
    gid = Number(execFileSync('id', ['-g', 'nobody']).toString().trim());
    chmodSync(dir, 0o755);
    chmodSync(join(dir, 'mail'), 0o777);
  }
  writeFileSync(join(dir, 'passwd'), `alice:{PLAIN}x:${uid}:${gid}::${dir}/home/alice\n`);
  execFileSync(DOVECOT, ['-c', join(dir, 'dovecot.conf')], { stdio: 'ignore' });
  return {
    port,
    messages() {
      const box = join(dir, 'mail', 'alice', 'new');
      return existsSync(box) ? readdirSync(box).map((f) => readFileSync(join(box, f), 'utf8')) : [];
    },
    async stop() {
      try {
        const pid = Number(readFileSync(join(dir, 'run', 'master.pid'), 'utf8'));
        process.kill(pid, 'SIGTERM');
        for (let i = 0; i < 100; i++) {
          process.kill(pid, 0);
          await new Promise((r) => setTimeout(r, 50));
        }
      } catch {
        /* stopped */
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
