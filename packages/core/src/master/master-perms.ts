/**
 * Ownership of the mail system's files when master runs as root (Postfix's
 * post-install set-permissions): services marked unprivileged in master.cf run
 * as mail_owner, so the queue (directories, the LMDB environment, the unix
 * sockets) and the maillog file must belong to mail_owner. The config
 * directory stays root's; mail_owner need not read it (services read main.cf
 * and open their tables before they drop privileges, master-privs.ts).
 */
import { chmodSync, chownSync, closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { ConfigView } from '../contracts/config.js';
import type { Logger } from '../contracts/logger.js';
import type { QueueStore } from '../contracts/queue.js';
import { maildropDirectory } from '../queue/maildrop-dir.js';

export interface Account {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
}

/** getpwnam(3) from /etc/passwd. */
export function lookupAccount(name: string, passwd = '/etc/passwd'): Account | undefined {
  let text: string;
  try {
    text = readFileSync(passwd, 'utf8');
  } catch {
    return undefined;
  }
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f[0] === name && f.length >= 4) return { name, uid: Number(f[2]), gid: Number(f[3]) };
  }
  return undefined;
}

/**
 * The account unprivileged services run as: mail_owner when master runs as
 * root and mail_owner is another, existing user; otherwise none (every process
 * runs as master's user, as in a per-user instance).
 */
export function serviceAccount(config: ConfigView, log?: Logger): Account | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const owner = config.get('mail_owner');
  const account = lookupAccount(owner);
  if (!account) {
    log?.warn(`mail_owner ${owner}: no such user; unprivileged services run as root`);
    return undefined;
  }
  return account.uid === 0 ? undefined : account;
}

function chownTree(path: string, account: Account): void {
  chownSync(path, account.uid, account.gid);
  for (const e of readdirSync(path, { withFileTypes: true })) {
    const p = join(path, e.name);
    if (e.isDirectory()) chownTree(p, account);
    else chownSync(p, account.uid, account.gid);
  }
}

/** getgrnam(3) from /etc/group: the group ID, or undefined. */
export function lookupGroup(name: string, group = '/etc/group'): number | undefined {
  let text: string;
  try {
    text = readFileSync(group, 'utf8');
  } catch {
    return undefined;
  }
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f[0] === name && f.length >= 3) return Number(f[2]);
  }
  return undefined;
}

/**
 * queue_directory/maildrop for local submission by any user (core's
 * maildrop-dir): mode 1733, owned by mail_owner (`account`; master's own
 * user when none) with group setgid_group when that group exists.
 * Returns what it made, for set-permissions' report.
 */
export function setMaildropPermissions(config: ConfigView, account: Account | undefined): string {
  const dir = maildropDirectory(config.get('queue_directory'));
  mkdirSync(dir, { recursive: true });
  const groupName = config.get('setgid_group');
  const gid = lookupGroup(groupName);
  if (process.getuid?.() === 0) chownSync(dir, account?.uid ?? 0, gid ?? account?.gid ?? 0);
  chmodSync(dir, 0o1733);
  return `${dir}: mode 1733${gid !== undefined && process.getuid?.() === 0 ? `, group ${groupName}` : ''}`;
}

/** Makes the queue, its sockets' directories and the maillog file mail_owner's. */
export async function setPermissions(config: ConfigView, account: Account, logFile: string | undefined, openQueue: () => QueueStore): Promise<void> {
  const queue = config.get('queue_directory');
  // create the queue store's files now (the LMDB environment, a plugin backend's
  // directories), so that no root-run process creates them root-owned
  mkdirSync(queue, { recursive: true });
  const before = new Set(readdirSync(queue));
  const store = openQueue();
  await store.close();
  for (const sub of ['public', 'private', 'flush']) {
    const p = join(queue, sub);
    mkdirSync(p, { recursive: true });
    chownTree(p, account);
  }
  for (const entry of readdirSync(queue)) {
    const p = join(queue, entry);
    if (!before.has(entry) || entry === 'queue.lmdb') {
      if (statSync(p).isDirectory()) chownTree(p, account);
      else chownSync(p, account.uid, account.gid);
    }
  }
  setMaildropPermissions(config, account);
  const data = config.get('data_directory');
  if (data) {
    mkdirSync(data, { recursive: true });
    chownSync(data, account.uid, account.gid);
  }
  const file = logFile ?? config.get('maillog_file');
  if (file && !file.startsWith('/dev/')) {
    mkdirSync(dirname(file), { recursive: true });
    if (!existsSync(file)) closeSync(openSync(file, 'a'));
    chownSync(file, account.uid, account.gid);
  }
}
