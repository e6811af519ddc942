/**
 * Can the services that run as mail_owner reach the queue? A service process
 * drops to mail_owner with that account's own group only (set_ugid), and
 * reaches the queue's sockets and files by absolute path, so every directory
 * on the way to queue_directory (and to data_directory) must be searchable by
 * mail_owner. When one is not, every unprivileged service fails at start;
 * master refuses to start then, and `postern check` reports it (fatal).
 *
 * The configuration directory needs no such access: services read main.cf
 * and open their tables while still root (master-privs.ts).
 *
 * Only checked when running as root with mail_owner a separate account.
 * Permission bits only (no ACLs).
 */
import { readFileSync, statSync, type Stats } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { ConfigView } from '../contracts/config.js';
import { posternError, type PosternError } from '../errors.js';
import { lookupAccount, type Account } from './master-perms.js';

/** The parameters whose directories mail_owner must reach. */
const REACHED = ['queue_directory', 'data_directory'] as const;

/** `/`, `/a`, `/a/b` ... `path`. */
function pathTo(path: string): string[] {
  const out: string[] = [];
  for (let p = resolve(path); ; p = dirname(p)) {
    out.unshift(p);
    if (dirname(p) === p) return out;
  }
}

function searchable(st: Stats, account: Account): boolean {
  if (st.uid === account.uid) return (st.mode & 0o100) !== 0;
  if (st.gid === account.gid) return (st.mode & 0o010) !== 0;
  return (st.mode & 0o001) !== 0;
}

function nameOf(file: string, id: number): string {
  try {
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      const f = line.split(':');
      if (f.length >= 3 && Number(f[2]) === id) return f[0]!;
    }
  } catch {
    /* no such file: the number */
  }
  return String(id);
}

/** One POSTERN_ERR_PRIVILEGE_ACCESS per unreachable directory (the first on each path). */
export function unreachableDirectories(config: ConfigView, account?: Account): PosternError[] {
  if (process.getuid?.() !== 0) return [];
  const owner = config.get('mail_owner');
  const who = account ?? lookupAccount(owner);
  if (!who || who.uid === 0) return [];
  const out: PosternError[] = [];
  for (const param of REACHED) {
    const path = config.get(param);
    if (!path) continue;
    for (const dir of pathTo(path)) {
      let st: Stats;
      try {
        st = statSync(dir);
      } catch {
        break; // not there yet: master creates it
      }
      if (st.isDirectory() && !searchable(st, who)) {
        const mode = (st.mode & 0o7777).toString(8).padStart(4, '0');
        const by = `${nameOf('/etc/passwd', st.uid)}:${nameOf('/etc/group', st.gid)}`;
        out.push(posternError('POSTERN_ERR_PRIVILEGE_ACCESS', param, path, who.name, dir, mode, by, who.name, who.name, dir, param));
        break;
      }
    }
  }
  return out;
}
