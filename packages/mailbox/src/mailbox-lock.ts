/**
 * Mailbox locking: Postfix's dot_lockfile(3), deliver_flock(3) and the
 * mailbox_delivery_lock / virtual_mailbox_lock methods (postconf -l lists
 * flock, fcntl, dotlock). Used by mbox delivery and by `postern lock`
 * (postlock(1)).
 *
 * dotlock
 *   `path.lock` is created with open(O_WRONLY|O_CREAT|O_EXCL, 0) and closed.
 *   When it exists, its ctime is compared with stale_lock_time: an older
 *   lock file is removed as stale. The attempt is repeated up to
 *   deliver_lock_attempts times, deliver_lock_delay apart. Releasing the
 *   lock unlinks the file.
 *
 * fcntl, flock
 *   Node.js has no fcntl(2) or flock(2). Postern takes these kernel locks in
 *   a small helper process that holds the lock for us: `perl` (Debian's
 *   Essential perl-base) opens the same file (O_RDWR|O_NOFOLLOW), takes a
 *   non-blocking exclusive lock -- fcntl(F_SETLK, F_WRLCK over the whole
 *   file, struct flock packed for the platform's off_t) or flock(LOCK_EX|
 *   LOCK_NB) -- and reports "locked DEV INO" on stdout, then waits for its
 *   standard input to reach end-of-file. We compare DEV/INO with the file we
 *   opened (so the lock is on the very file we write), and release the lock
 *   by closing the helper's stdin; if this process dies, the pipe closes and
 *   the kernel drops the lock with the helper. fcntl locks belong to the
 *   helper's pid, which excludes every other process just the same (mail
 *   readers see a normal POSIX lock). A busy lock ("busy") is retried like
 *   the dotlock. Without perl, kernel locking fails and delivery defers.
 */
import { spawn } from 'node:child_process';
import { constants as fsc } from 'node:fs';
import { open, stat, unlink } from 'node:fs/promises';
import { createInterface } from 'node:readline';

export type LockMethod = 'fcntl' | 'flock' | 'dotlock';

export interface LockOptions {
  /** deliver_lock_attempts (default 20). */
  readonly attempts?: number;
  /** deliver_lock_delay in seconds (default 1). */
  readonly delay?: number;
  /** stale_lock_time in seconds (default 500). */
  readonly staleTime?: number;
  /** Device and inode the kernel lock must be on (the file the caller opened). */
  readonly expect?: { readonly dev: number; readonly ino: number };
  readonly signal?: AbortSignal;
}

/** A failed lock attempt, with errno-style code (EAGAIN when the lock is busy). */
export class LockError extends Error {
  constructor(
    message: string,
    readonly code: 'EAGAIN' | 'EIO' | 'ENOENT' | 'EACCES' | 'ESTALE',
  ) {
    super(message);
    this.name = 'LockError';
  }
}

export interface HeldLock {
  release(): Promise<void>;
}

const LOCK_METHODS: readonly LockMethod[] = ['fcntl', 'flock', 'dotlock'];

/** Parses mailbox_delivery_lock / virtual_mailbox_lock ("fcntl, dotlock"). */
export function parseLockMethods(value: string): LockMethod[] {
  const out: LockMethod[] = [];
  for (const word of value.split(/[\s,]+/).filter(Boolean)) {
    const m = word.toLowerCase() as LockMethod;
    if (!LOCK_METHODS.includes(m)) throw new Error(`invalid mailbox lock method: ${word}`);
    if (!out.includes(m)) out.push(m);
  }
  return out;
}

const sleep = (seconds: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => (signal?.removeEventListener('abort', onAbort), resolve()), seconds * 1000);
    const onAbort = () => (clearTimeout(t), reject(signal!.reason));
    signal?.addEventListener('abort', onAbort, { once: true });
  });

/** dot_lockfile(3): creates `path.lock`, honouring stale_lock_time. */
export async function dotLock(path: string, options: LockOptions = {}): Promise<HeldLock> {
  const lockFile = `${path}.lock`;
  const attempts = Math.max(1, options.attempts ?? 20);
  const stale = options.staleTime ?? 500;
  let lastError = '';
  for (let count = 1; ; count++) {
    try {
      const fh = await open(lockFile, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL, 0);
      await fh.close();
      let released = false;
      return {
        async release() {
          if (released) return;
          released = true;
          await unlink(lockFile).catch(() => undefined);
        },
      };
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      if (e.code !== 'EEXIST') {
        throw new LockError(`unable to create lock file ${lockFile}: ${errnoText(e)}`, e.code === 'EACCES' ? 'EACCES' : 'EIO');
      }
      lastError = `unable to create lock file ${lockFile}: File exists`;
    }
    if (count >= attempts) break;
    try {
      const st = await stat(lockFile);
      if (Date.now() / 1000 > st.ctimeMs / 1000 + stale) await unlink(lockFile).catch(() => undefined);
    } catch {
      /* gone meanwhile */
    }
    await sleep(options.delay ?? 1, options.signal);
  }
  throw new LockError(lastError, 'EAGAIN');
}

/** The helper program: see the module header. argv: path, method. */
const LOCK_HELPER = String.raw`
use strict; use Fcntl; use Config;
my ($path, $method) = @ARGV; $| = 1;
my $fh;
unless (sysopen($fh, $path, Fcntl::O_RDWR() | Fcntl::O_NOFOLLOW())) { print "error $!\n"; exit 2; }
my @st = stat($fh);
my $ok;
if ($method eq 'flock') {
  $ok = flock($fh, Fcntl::LOCK_EX() | Fcntl::LOCK_NB());
} else {
  my $off = $Config{lseeksize} == 8 ? 'q' : 'l';
  my $fmt = "s s x![$off] $off $off i x![$off]";
  $ok = fcntl($fh, Fcntl::F_SETLK(), pack($fmt, Fcntl::F_WRLCK(), 0, 0, 0, 0));
}
unless ($ok) {
  if ($!{EAGAIN} || $!{EACCES} || $!{EWOULDBLOCK}) { print "busy\n"; exit 1; }
  print "error $!\n"; exit 2;
}
print "locked $st[0] $st[1]\n";
my $buf; 1 while sysread(STDIN, $buf, 4096);
exit 0;
`;

/** The perl interpreter the kernel-lock helper runs with. */
export const LOCK_HELPER_PERL = '/usr/bin/perl';

function tryKernelLock(path: string, method: 'fcntl' | 'flock', expect?: LockOptions['expect']): Promise<HeldLock | 'busy'> {
  return new Promise((resolve, reject) => {
    const child = spawn(LOCK_HELPER_PERL, ['-e', LOCK_HELPER, path, method], {
      stdio: ['pipe', 'pipe', 'ignore'],
      env: { PATH: '/usr/bin:/bin' },
    });
    let settled = false;
    const fail = (e: LockError) => {
      if (settled) return;
      settled = true;
      child.stdin.destroy();
      reject(e);
    };
    child.once('error', (e) => fail(new LockError(`cannot run ${method} lock helper: ${e.message}`, 'EIO')));
    child.stdin.on('error', () => undefined);
    const lines = createInterface({ input: child.stdout });
    lines.once('line', (line) => {
      const [word, ...rest] = line.split(' ');
      if (word === 'busy') {
        settled = true;
        resolve('busy');
        return;
      }
      if (word !== 'locked') {
        fail(new LockError(`unable to lock for exclusive access: ${rest.join(' ') || 'lock helper failed'}`, 'EIO'));
        return;
      }
      const [dev, ino] = rest.map(Number);
      if (expect && (dev !== expect.dev || ino !== expect.ino)) {
        fail(new LockError(`unable to lock for exclusive access: ${path} was replaced while locking`, 'ESTALE'));
        return;
      }
      settled = true;
      const exited = new Promise<void>((r) => (child.exitCode !== null ? r() : child.once('exit', () => r())));
      resolve({
        async release() {
          child.stdin.end();
          await exited;
        },
      });
    });
    child.once('exit', (code) => {
      if (!settled) fail(new LockError(`unable to lock for exclusive access: lock helper exited with status ${code}`, 'EIO'));
    });
  });
}

/** deliver_flock(3): a kernel lock (fcntl or flock) on `path`, retried while busy. */
export async function kernelLock(path: string, method: 'fcntl' | 'flock', options: LockOptions = {}): Promise<HeldLock> {
  const attempts = Math.max(1, options.attempts ?? 20);
  for (let count = 1; ; count++) {
    const held = await tryKernelLock(path, method, options.expect);
    if (held !== 'busy') return held;
    if (count >= attempts) break;
    await sleep(options.delay ?? 1, options.signal);
  }
  throw new LockError('unable to lock for exclusive access: Resource temporarily unavailable', 'EAGAIN');
}

/**
 * Locks `path` with every method in `methods` (dotlock first, then the
 * kernel locks, as Postfix's mbox_open). On failure, locks already taken
 * are released and the LockError is thrown. The file must exist for the
 * kernel locks.
 */
export async function lockMailbox(path: string, methods: readonly LockMethod[], options: LockOptions = {}): Promise<HeldLock> {
  const held: HeldLock[] = [];
  const releaseAll = async () => {
    for (const h of held.splice(0).reverse()) await h.release();
  };
  try {
    if (methods.includes('dotlock')) held.push(await dotLock(path, options));
    for (const m of methods) if (m !== 'dotlock') held.push(await kernelLock(path, m, options));
  } catch (err) {
    await releaseAll();
    throw err;
  }
  return { release: releaseAll };
}

export function errnoText(e: NodeJS.ErrnoException): string {
  const texts: Record<string, string> = {
    ENOENT: 'No such file or directory',
    EACCES: 'Permission denied',
    EPERM: 'Operation not permitted',
    EEXIST: 'File exists',
    ENOSPC: 'No space left on device',
    EDQUOT: 'Disk quota exceeded',
    EFBIG: 'File too large',
    EISDIR: 'Is a directory',
    ENOTDIR: 'Not a directory',
    ELOOP: 'Too many levels of symbolic links',
    EROFS: 'Read-only file system',
    EAGAIN: 'Resource temporarily unavailable',
    EIO: 'Input/output error',
  };
  return (e.code && texts[e.code]) ?? e.message;
}
