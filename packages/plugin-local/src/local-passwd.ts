/**
 * mypwnam(3): passwd lookups for local(8), through core's
 * unix:passwd.byname table -- the same source smtpd's default
 * local_recipient_maps (proxy:unix:passwd.byname $alias_maps) consults.
 *
 * Only names that can be account names are ever looked up: no "/", no
 * white space or control characters, not "." or "..", no leading "-".
 * Mailbox paths are built from the name the passwd entry returns.
 */
import { statSync } from 'node:fs';
import type { LookupTable, TableRegistry } from '@postern/core';
import type { PasswdEntry, Privileges } from './local-state.js';

export const PASSWD_TABLE = 'unix:passwd.byname';

/** True when `name` may be looked up as an account name. */
export function plausibleUser(name: string): boolean {
  return (
    name !== '' &&
    name !== '.' &&
    name !== '..' &&
    !name.startsWith('-') &&
    !/[/\s\x00-\x1f\x7f]/.test(name)
  );
}

/** Parses "name:passwd:uid:gid:gecos:dir:shell". */
export function parsePasswd(value: string): PasswdEntry | undefined {
  const f = value.split(':');
  if (f.length < 7) return undefined;
  const uid = Number(f[2]);
  const gid = Number(f[3]);
  if (!Number.isInteger(uid) || !Number.isInteger(gid)) return undefined;
  return { name: f[0]!, uid, gid, home: f[5]!, shell: f[6]! };
}

export async function getpwnam(tables: TableRegistry, name: string): Promise<PasswdEntry | undefined> {
  if (!plausibleUser(name)) return undefined;
  const table: LookupTable = tables.open(PASSWD_TABLE);
  const value = await table.lookup(name);
  const pw = value === undefined ? undefined : parsePasswd(value);
  return pw && pw.name === name ? pw : undefined;
}

export function privsOf(pw: PasswdEntry): Privileges {
  return { uid: pw.uid, gid: pw.gid, home: pw.home, shell: pw.shell, logname: pw.name };
}

/**
 * The default_privs account's uid and gid; never root. As in Postfix,
 * only the ids are taken: no home directory or shell comes with them.
 */
export async function defaultPrivs(tables: TableRegistry, name: string): Promise<Privileges> {
  const pw = await getpwnam(tables, name);
  if (!pw) throw new Error(`unknown default_privs user: ${name}`);
  if (pw.uid === 0) throw new Error(`default_privs: bad user name or root: ${name}`);
  return { uid: pw.uid, gid: pw.gid, logname: pw.name };
}

/**
 * Commands and files never run as root: root's uid and gid become
 * default_privs' (Postfix does the same for root-owned alias files and for
 * mail to root); the home and shell in force are kept.
 */
export async function unprivileged(tables: TableRegistry, privs: Privileges, defaultName: string): Promise<Privileges> {
  if (privs.uid !== 0) return privs;
  const ids = await defaultPrivs(tables, defaultName);
  return { ...privs, uid: ids.uid, gid: ids.gid };
}

/** The owner of a file-based table (the alias database owner), if any. */
export function tableOwner(spec: string): { uid: number; gid: number } | undefined {
  const colon = spec.indexOf(':');
  const name = colon < 0 ? spec : spec.slice(colon + 1);
  if (!name.startsWith('/')) return undefined;
  for (const path of [`${name}.lmdb`, name]) {
    try {
      const st = statSync(path);
      return { uid: st.uid, gid: st.gid };
    } catch {
      /* next */
    }
  }
  return undefined;
}
