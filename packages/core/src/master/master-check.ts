/**
 * The ownership and mode checks of postfix-script's `check` (postfix(1)
 * check), for a master that runs as root:
 *
 *   warning: not owned by root: PATH          config_directory, main.cf, master.cf
 *   warning: group or other writable: PATH    the same files
 *   warning: not owned by MAIL_OWNER: PATH    the queue below queue_directory
 *                                             (pid/ stays root's, as Postfix's)
 *
 * Nothing is checked when not running as root (a per-user instance owns
 * everything itself) or when mail_owner is not a separate account.
 */
import { existsSync, lstatSync, readdirSync } from 'node:fs';
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
  if (mailOwner && mailOwner.uid !== 0 && existsSync(queue)) {
    const paths: string[] = [];
    for (const name of readdirSync(queue)) if (name !== 'pid') walk(join(queue, name), paths, new Set());
    for (const p of paths) {
      try {
        if (lstatSync(p).uid !== mailOwner.uid) out.push(`not owned by ${owner}: ${p}`);
      } catch {
        /* gone meanwhile */
      }
    }
  }
  return out;
}
