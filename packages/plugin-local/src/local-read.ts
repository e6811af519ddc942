/**
 * Reads a user-controlled file (.forward, :include:) with that user's
 * rights: as root with other privileges in force, through a child process
 * started with the user's uid/gid, so a symbolic link to a file the user
 * may not read yields "Permission denied" as it would in Postfix. When not
 * root, the file is read as the current user.
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import type { Privileges } from './local-state.js';

export type ReadResult = { status: 'ok'; text: string } | { status: 'missing' | 'error'; error: string };

const LIMIT = 1 << 20;

const READER =
  "const fs=require('fs');try{const b=fs.readFileSync(process.argv[1]);process.stdout.write(b.subarray(0," +
  LIMIT +
  "))}catch(e){process.stderr.write(String(e.code||e.message));process.exit(3)}";

const errText = (code: string): string =>
  code === 'ENOENT' ? 'No such file or directory' : code === 'EACCES' ? 'Permission denied' : code === 'EISDIR' ? 'Is a directory' : code;

export async function readAsUser(path: string, privs?: Privileges): Promise<ReadResult> {
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!root || !privs || privs.uid === 0) {
    try {
      const buf = await readFile(path);
      return { status: 'ok', text: buf.subarray(0, LIMIT).toString('utf8') };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'error';
      return { status: code === 'ENOENT' || code === 'ENOTDIR' ? 'missing' : 'error', error: errText(code) };
    }
  }
  return new Promise<ReadResult>((resolve) => {
    const child = spawn(process.execPath, ['-e', READER, path], {
      uid: privs.uid,
      gid: privs.gid,
      cwd: '/',
      env: { PATH: '/usr/bin:/bin' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.once('error', (e) => resolve({ status: 'error', error: e.message }));
    child.once('close', (code) => {
      if (code === 0) resolve({ status: 'ok', text: Buffer.concat(out).toString('utf8') });
      else {
        const c = err.trim();
        resolve({ status: c === 'ENOENT' || c === 'ENOTDIR' ? 'missing' : 'error', error: errText(c || `status ${code}`) });
      }
    });
  });
}
