/**
 * One entry for mailbox and file deliveries, mbox or Maildir by the
 * destination's trailing "/", with the recipient's privileges.
 *
 * Privileges: when this process runs as root and `runAs` names another
 * uid, the delivery runs in a child Node process started with that
 * uid/gid (mailbox-worker.js: the request as JSON in argv, the message on
 * stdin, the result as JSON on stdout), so that every path under a user's
 * control is opened with the user's rights (Postfix's set_eugid()). Root's
 * own deliveries, `runAs` absent, and every delivery when not running as
 * root happen in this process (as the current user).
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { MailCopyOptions } from './mail-copy.js';
import { deliverMaildir, type MaildirOptions } from './maildir.js';
import { failResult, type MailboxResult } from './mailbox-status.js';
import { deliverMbox, type MboxOptions } from './mbox.js';

export interface MailboxDeliveryOptions extends Omit<MboxOptions, 'kind' | 'signal'>, Omit<MaildirOptions, 'kind' | 'signal'> {
  /** "mailbox" (mbox/maildir wording) or "file" (delivered to file: PATH). */
  readonly kind?: 'mailbox' | 'file';
  /** Deliver with these privileges (see the module header). */
  readonly runAs?: { readonly uid: number; readonly gid: number };
  /** Use the worker process even when no privilege change is needed (tests). */
  readonly forceWorker?: boolean;
  readonly signal?: AbortSignal;
}

/** True for a Maildir destination (a name ending in "/"). */
export const isMaildir = (path: string): boolean => path.endsWith('/');

/** The request the worker receives (plain data). */
export interface MailboxWorkerRequest {
  readonly path: string;
  readonly copy: Omit<MailCopyOptions, 'date'> & { readonly date?: number };
  readonly options: Omit<MailboxDeliveryOptions, 'runAs' | 'forceWorker' | 'signal'>;
}

/** Delivers in this process (no privilege change). */
export function deliverMailboxHere(
  path: string,
  content: AsyncIterable<Buffer> | Iterable<Buffer>,
  copy: MailCopyOptions,
  opts: Omit<MailboxDeliveryOptions, 'runAs' | 'forceWorker'>,
): Promise<MailboxResult> {
  if (isMaildir(path)) {
    return deliverMaildir(path, content, copy, {
      sizeLimit: opts.sizeLimit,
      hostname: opts.hostname,
      kind: opts.kind === 'file' ? 'file' : 'maildir',
      signal: opts.signal,
    });
  }
  return deliverMbox(path, content, copy, { ...opts, kind: opts.kind === 'file' ? 'file' : 'mailbox' });
}

const WORKER = fileURLToPath(new URL('./mailbox-worker.js', import.meta.url));

function viaWorker(
  path: string,
  content: AsyncIterable<Buffer> | Iterable<Buffer>,
  copy: MailCopyOptions,
  opts: MailboxDeliveryOptions,
): Promise<MailboxResult> {
  const { runAs, forceWorker: _f, signal, ...options } = opts;
  const request: MailboxWorkerRequest = { path, copy: { ...copy, date: (copy.date ?? new Date()).getTime() }, options };
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  return new Promise<MailboxResult>((resolve) => {
    const child = spawn(process.execPath, [WORKER, JSON.stringify(request)], {
      stdio: ['pipe', 'pipe', 'pipe'],
      cwd: '/',
      env: { PATH: '/usr/bin:/bin', ...(process.env.TZ !== undefined && { TZ: process.env.TZ }) },
      ...(root && runAs && { uid: runAs.uid, gid: runAs.gid }),
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const onAbort = () => child.kill('SIGKILL');
    signal?.addEventListener('abort', onAbort, { once: true });
    child.once('error', (e) => resolve(failResult('4.3.0', `cannot run mailbox delivery process: ${e.message}`)));
    child.once('close', (code) => {
      signal?.removeEventListener('abort', onAbort);
      try {
        resolve(JSON.parse(out) as MailboxResult);
      } catch {
        resolve(failResult('4.3.0', `mailbox delivery process failed (status ${code}): ${err.trim().split('\n')[0] ?? ''}`));
      }
    });
    child.stdin.on('error', () => undefined);
    void (async () => {
      try {
        for await (const chunk of content as AsyncIterable<Buffer>) {
          if (!child.stdin.write(chunk)) await new Promise((r) => child.stdin.once('drain', r));
        }
      } finally {
        child.stdin.end();
      }
    })().catch(() => child.kill('SIGKILL'));
  });
}

/**
 * Delivers the message to `path` (mbox file, or Maildir when it ends in
 * "/") and returns the delivery status; never throws.
 */
export async function deliverMailbox(
  path: string,
  content: AsyncIterable<Buffer> | Iterable<Buffer>,
  copy: MailCopyOptions,
  opts: MailboxDeliveryOptions = {},
): Promise<MailboxResult> {
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  const needsSwitch = root && opts.runAs !== undefined && opts.runAs.uid !== process.getuid!();
  if (needsSwitch || opts.forceWorker) return viaWorker(path, content, copy, opts);
  const { runAs: _r, forceWorker: _f, ...rest } = opts;
  return deliverMailboxHere(path, content, copy, rest);
}
