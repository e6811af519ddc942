/**
 * The ownership and mode checks of postfix-script's `check` (postfix(1)
 * check), for a master that runs as root:
 *
 *   warning: not owned by root: PATH          config_directory, main.cf, master.cf
 *   warning: group or other writable: PATH    the same files
 *   warning: not owned by root: PATH          queue_directory and its pid/
 *   warning: group or other writable: PATH    the same directories
 *   warning: not owned by MAIL_OWNER: PATH    the queue below queue_directory
 *                                             (pid/ stays root's, as Postfix's;
 *                                             maildrop/ itself, not its files),
 *                                             and data_directory
 *   warning: group or other writable: PATH    directories of data_directory
 *
 * Nothing is checked when not running as root (a per-user instance owns
 * everything itself) or when mail_owner is not a separate account.
 */
import { existsSync, lstatSync, readdirSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import type { ConfigView } from '../contracts/config.js';
import { lookupAccount, type Account } from './master-perms.js';

function walk(path: string, out: string[], skip: ReadonlySet<string>): void {
  out.push(path);
  let st;
  try {
    st = lstatSync(path);
  } catch {
    return;
  }
  if (!st.isDirectory()) return;
  for (const name of readdirSync(path)) {
    const p = join(path, name);
    if (!skip.has(p)) walk(p, out, skip);
  }
}

/** The warning lines (without the "postfix-script: warning: " prefix), in path order. */
export function permissionProblems(config: ConfigView, configDirectory: string, account?: Account): string[] {
  if (process.getuid?.() !== 0) return [];
  const owner = config.get('mail_owner');
  const mailOwner = account ?? lookupAccount(owner);
  const out: string[] = [];
  for (const path of [configDirectory, join(configDirectory, 'main.cf'), join(configDirectory, 'master.cf')]) {
    if (!existsSync(path)) continue;
    const st = lstatSync(path);
    if (st.uid !== 0) out.push(`not owned by root: ${path}`);
    if ((st.mode & 0o022) !== 0 && !st.isDirectory()) out.push(`group or other writable: ${path}`);
  }
  const queue = config.get('queue_directory');
  // the queue directory itself and pid/ are root's (postfix-script: find $queue_directory/. $queue_directory/pid -prune)
  for (const path of [queue, join(queue, 'pid')]) {
    const st = stat(path);
    if (!st) continue;
    if (st.uid !== 0) out.push(`not owned by root: ${path}`);
    if ((st.mode & 0o022) !== 0) out.push(`group or other writable: ${path}`);
  }
  if (mailOwner && mailOwner.uid !== 0 && existsSync(queue)) {
    const paths: string[] = [];
    // maildrop holds the files of the users who submitted them: only the directory is checked
    const maildrop = join(queue, 'maildrop');
    for (const name of readdirSync(queue)) if (name !== 'pid') walk(join(queue, name), paths, new Set(readdirOrEmpty(maildrop).map((n) => join(maildrop, n))));
    // data_directory: mail_owner's (postfix-script: find $data_directory/. ! -user $mail_owner)
    const data = config.get('data_directory');
    if (data && existsSync(data)) walk(data, paths, new Set());
    for (const p of paths) {
      const st = stat(p);
      if (st && st.uid !== mailOwner.uid) out.push(`not owned by ${owner}: ${p}`);
    }
    // LMDB lock files are world-writable by design (readers write the reader table): directories only
    for (const p of data && existsSync(data) ? paths.filter((x) => x === data || x.startsWith(`${data}/`)) : []) {
      const st = stat(p);
      if (st?.isDirectory() && (st.mode & 0o022) !== 0) out.push(`group or other writable: ${p}`);
    }
  }
  return out;
}

function stat(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}

function readdirOrEmpty(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
