/**
 * pipe_command(3): runs an external command for local(8) (|command in
 * aliases and .forward, mailbox_command) and pipe(8), feeds it the message,
 * collects a limited amount of output, enforces a time limit and turns
 * the exit status into a delivery status per <sysexits.h>.
 *
 * Execution: an argv runs directly (execve, no shell). A command line runs
 * through `shell` when given (local_command_shell, e.g. "/bin/sh -c"),
 * else directly when it has no shell meta characters (split on white
 * space), else through "/bin/sh -c" (Postfix's exec_command()); a first
 * word not found on PATH also goes to the shell (a built-in such as exit).
 *
 * Privileges: uid/gid are applied only when this process runs as root
 * (Node's spawn uid/gid: setgroups(0), setgid, setuid in the child). When
 * not root, the command runs as the current user: nothing else is possible.
 *
 * Time limit: the command runs in its own process group; when the limit
 * expires (or the delivery's signal fires) the whole group gets SIGKILL and
 * the delivery is deferred with 4.3.0 "Command time limit exceeded".
 */
import { spawn } from 'node:child_process';
import { accessSync, constants as fsc } from 'node:fs';
import { join } from 'node:path';
import { failResult, sentResult, type MailboxResult } from './mailbox-status.js';

export interface CommandOptions {
  /** Run this argv directly (pipe(8)). */
  readonly argv?: readonly string[];
  /** Or this command line (local(8)). */
  readonly command?: string;
  /** local_command_shell: the shell and its options, the command is appended as one argument. */
  readonly shell?: string;
  readonly uid?: number;
  readonly gid?: number;
  /** The complete environment of the command. */
  readonly env: Readonly<Record<string, string>>;
  readonly cwd?: string;
  /** Seconds; 0 = no limit. */
  readonly timeLimit: number;
  readonly input: AsyncIterable<Buffer> | Iterable<Buffer>;
  readonly signal?: AbortSignal;
  /** Bytes of output kept (default 2048). */
  readonly outputLimit?: number;
}

export interface CommandOutcome {
  readonly kind: 'exit' | 'signal' | 'timeout' | 'error';
  readonly code?: number;
  readonly signal?: string;
  /** Standard output and error, as far as kept, made printable. */
  readonly output: string;
  /** spawn error text (kind "error"). */
  readonly error?: string;
}

/** Characters that make Postfix hand a command line to /bin/sh. */
const SHELL_META = /[\n"'`~!$&*()=|{}[\];<>?\\#]/;

function onPath(name: string, path: string): boolean {
  for (const dir of path.split(':').filter(Boolean)) {
    try {
      accessSync(join(dir, name), fsc.X_OK);
      return true;
    } catch {
      /* next */
    }
  }
  return false;
}

/**
 * The argv a command line runs with (see the module header). A first word
 * without "/" that is not found on `path` goes to the shell too: it may be
 * a shell built-in (Postfix's exec_command() falls back the same way).
 */
export function commandArgv(command: string, shell?: string, path = '/usr/bin:/bin'): string[] {
  if (shell && shell.trim() !== '') return [...shell.trim().split(/\s+/), command];
  if (!SHELL_META.test(command)) {
    const words = command.trim().split(/\s+/).filter(Boolean);
    if (words.length > 0 && (words[0]!.includes('/') || onPath(words[0]!, path))) return words;
  }
  return ['/bin/sh', '-c', command];
}

const isRoot = () => typeof process.getuid === 'function' && process.getuid() === 0;

function printable(text: string): string {
  return text
    .replace(/[\x00-\x08\x0b-\x1f\x7f]/g, '?')
    .replace(/\s*\n\s*/g, ' ')
    .trim();
}

/** Runs the command; never throws. */
export function runCommand(opts: CommandOptions): Promise<CommandOutcome> {
  const argv = opts.argv ? [...opts.argv] : commandArgv(opts.command ?? '', opts.shell, opts.env.PATH);
  const limit = opts.outputLimit ?? 2048;
  return new Promise<CommandOutcome>((resolve) => {
    let output = Buffer.alloc(0);
    let timedOut = false;
    let settled = false;
    const keep = (chunk: Buffer) => {
      if (output.length < limit) output = Buffer.concat([output, chunk.subarray(0, limit - output.length)]);
    };
    const root = isRoot();
    let child;
    try {
      child = spawn(argv[0]!, argv.slice(1), {
        env: { ...opts.env },
        cwd: opts.cwd,
        stdio: ['pipe', 'pipe', 'pipe'],
        detached: true,
        ...(root && opts.uid !== undefined && { uid: opts.uid }),
        ...(root && opts.gid !== undefined && { gid: opts.gid }),
      });
    } catch (err) {
      resolve({ kind: 'error', output: '', error: (err as Error).message });
      return;
    }
    const killGroup = () => {
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    };
    const timer =
      opts.timeLimit > 0
        ? setTimeout(() => {
            timedOut = true;
            killGroup();
          }, opts.timeLimit * 1000)
        : undefined;
    const onAbort = () => {
      timedOut = true;
      killGroup();
    };
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    const finish = (outcome: CommandOutcome) => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      child.stdout?.destroy();
      child.stderr?.destroy();
      child.stdin?.destroy();
      resolve(outcome);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    child.once('error', (err) => finish({ kind: 'error', output: '', error: err.message }));
    child.once('exit', (code, signal) => {
      const done = () => {
        const text = printable(output.toString('utf8'));
        if (timedOut) finish({ kind: 'timeout', output: text });
        else if (signal) finish({ kind: 'signal', signal, output: text });
        else finish({ kind: 'exit', code: code ?? 0, output: text });
      };
      // the output is complete when the pipes close ('close'); a command that
      // left a child holding them open gets a second, not forever
      const late = setTimeout(done, 1000);
      child.once('close', () => (clearTimeout(late), done()));
    });
    child.stdin!.on('error', () => undefined);
    void (async () => {
      try {
        for await (const chunk of opts.input as AsyncIterable<Buffer>) {
          if (settled || child.stdin!.destroyed) return;
          if (!child.stdin!.write(chunk)) {
            await new Promise<void>((r) => {
              child.stdin!.once('drain', r);
              child.stdin!.once('close', r);
            });
          }
        }
        child.stdin!.end();
      } catch {
        child.stdin!.destroy();
      }
    })();
  });
}

/** <sysexits.h> codes as Postfix's sys_exits.c describes them. */
export const SYS_EXITS: Readonly<Record<number, { readonly dsn: string; readonly text: string }>> = {
  64: { dsn: '5.3.0', text: 'command line usage error' },
  65: { dsn: '5.6.0', text: 'data format error' },
  66: { dsn: '5.3.0', text: 'cannot open input' },
  67: { dsn: '5.1.1', text: 'user unknown' },
  68: { dsn: '5.1.2', text: 'host name unknown' },
  69: { dsn: '5.3.0', text: 'service unavailable' },
  70: { dsn: '5.3.0', text: 'internal software error' },
  71: { dsn: '4.3.0', text: 'system resource problem' },
  72: { dsn: '5.3.0', text: 'critical OS file missing' },
  73: { dsn: '5.2.0', text: "can't create user output file" },
  74: { dsn: '5.3.0', text: 'input/output error' },
  75: { dsn: '4.3.0', text: 'temporary failure' },
  76: { dsn: '5.5.0', text: 'remote error in protocol' },
  77: { dsn: '5.7.0', text: 'permission denied' },
  78: { dsn: '5.3.5', text: 'local configuration error' },
};

/**
 * The delivery status of a command outcome. `what` names the command in
 * the reason (Postfix quotes it); `success` is the reason for exit 0.
 * Output that starts with an enhanced status code (4.X.X or 5.X.X) sets
 * the status of a failure.
 */
export function commandStatus(outcome: CommandOutcome, what: string, success: string): MailboxResult {
  const out = outcome.output;
  const withOutput = (text: string) => (out ? `${text}. Command output: ${out}` : text);
  switch (outcome.kind) {
    case 'error':
      return failResult('4.3.0', `Command failed: "${what}": ${outcome.error ?? 'cannot execute'}`);
    case 'timeout':
      return failResult('4.3.0', withOutput(`Command time limit exceeded: "${what}"`));
    case 'signal':
      return failResult('4.3.0', withOutput(`Command died with signal ${outcome.signal}: "${what}"`));
    case 'exit':
      break;
  }
  const code = outcome.code ?? 0;
  if (code === 0) return sentResult(out ? `${success}. Command output: ${out}` : success);
  const enhanced = /^([45])\.(\d{1,3})\.(\d{1,3})(?:\s+|$)/.exec(out);
  if (enhanced) {
    const dsn = `${enhanced[1]}.${enhanced[2]}.${enhanced[3]}`;
    return failResult(dsn, out.slice(enhanced[0].length) || `Command died with status ${code}: "${what}"`);
  }
  const sx = SYS_EXITS[code];
  if (sx) return failResult(sx.dsn, withOutput(sx.text));
  return failResult('5.3.0', withOutput(`Command died with status ${code}: "${what}"`));
}
