/**
 * The one catalogue of Postern's coded errors (fastify's FST_ERR_* style).
 *
 * Every failure a user can meet has a code, a message template and, where
 * there is one, a hint on how to fix it. Throw with {@link posternError};
 * test with {@link isPosternError}.
 */

export interface ErrorSpec {
  readonly message: string;
  readonly hint?: string;
}

export const ERRORS = {
  POSTERN_ERR_CONFIG_READ: { message: 'cannot read %s: %s', hint: 'check the path given with -c or $MAIL_CONFIG' },
  POSTERN_ERR_CONFIG_SYNTAX: { message: '%s, line %s: %s' },
  POSTERN_ERR_CONFIG_VALUE: { message: 'bad %s value for parameter %s: %s' },
  POSTERN_ERR_CONFIG_RECURSION: { message: 'parameter %s: recursion in $name expansion' },
  POSTERN_ERR_CONFIG_EXPAND: { message: 'parameter %s: %s' },
  POSTERN_ERR_MASTER_SYNTAX: { message: '%s, line %s: %s' },
  POSTERN_ERR_MASTER_DUPLICATE: { message: '%s, line %s: duplicate service %s/%s (first defined on line %s)' },
  POSTERN_ERR_PLUGIN_MISSING: {
    message: 'master.cf service %s/%s: no installed package provides command "%s"',
    hint: 'install %s (npm install %s), or comment the service out in master.cf',
  },
  POSTERN_ERR_PLUGIN_CORE_VERSION: {
    message: 'plugin %s@%s needs @postern/core %s, but core is %s',
    hint: 'install a version of %s built for this core',
  },
  POSTERN_ERR_PLUGIN_DEPENDENCY: { message: 'plugin %s uses %s, which no installed plugin provides', hint: 'install %s' },
  POSTERN_ERR_PLUGIN_INVALID: { message: 'package %s is not a valid Postern plugin: %s' },
  POSTERN_ERR_COHOST: {
    message: 'master.cf service %s: in_process_services names %s: %s',
    hint: 'name master.cf services whose packages serve a contract (cleanup, rewrite, bounce, ...)',
  },
  POSTERN_ERR_PLUGIN_CONFLICT: { message: 'command "%s" is provided by both %s and %s', hint: 'uninstall one of them' },
  POSTERN_ERR_IPC_CONNECT: { message: 'connect to %s service (%s): %s', hint: 'is the mail system running? (postern status)' },
  POSTERN_ERR_IPC_PEER_GONE: { message: '%s service closed the connection with %s request(s) pending' },
  POSTERN_ERR_IPC_TIMEOUT: { message: '%s service: no reply to %s within %s' },
  POSTERN_ERR_IPC_PROTOCOL: { message: '%s: protocol error: %s' },
  POSTERN_ERR_IPC_REMOTE: { message: '%s service: %s' },
  POSTERN_ERR_IPC_FRAME_SIZE: { message: '%s: frame of %s bytes exceeds the limit of %s' },
  POSTERN_ERR_TABLE_TYPE: { message: 'unsupported dictionary type: %s', hint: 'supported types: %s' },
  POSTERN_ERR_TABLE_SYNTAX: { message: '%s, line %s: %s' },
  POSTERN_ERR_TABLE_OPEN: { message: 'open table %s: %s' },
  POSTERN_ERR_TABLE_READONLY: { message: 'table %s is read-only' },
  POSTERN_ERR_TABLE_LOOKUP: { message: 'table %s: lookup error: %s' },
  POSTERN_ERR_QUEUE_NOT_FOUND: { message: '%s: no such message in the queue' },
  POSTERN_ERR_QUEUE_BAD_ID: { message: 'invalid queue id: %s' },
  POSTERN_ERR_QUEUE_BACKEND: { message: 'queue_backend = %s: no installed package provides this queue backend (installed: %s)', hint: 'install the package that provides it, or set queue_backend = lmdb (@postern/queue-lmdb)' },
  POSTERN_ERR_QUEUE_BAD_NAME: { message: 'invalid queue name: %s', hint: 'one of maildrop, incoming, active, deferred, hold, corrupt' },
  POSTERN_ERR_QUEUE_WRITE: { message: 'queue write failed: %s' },
  POSTERN_ERR_QUEUE_TOO_LARGE: { message: 'message exceeds the size limit of %s bytes' },
  POSTERN_ERR_QUEUE_CORRUPT: { message: '%s: corrupt queue file: %s', hint: 'run postsuper -s to move damaged messages to the corrupt queue' },
  POSTERN_ERR_PRIVILEGE_ACCESS: {
    message: '%s %s: mail_owner %s cannot search directory %s (mode %s, owner %s): the services that run as %s cannot reach it',
    hint: 'give %s search permission on %s (e.g. chmod o+x), or choose another %s',
  },
  POSTERN_ERR_MASTER_RUNNING: { message: 'the Postern mail system is already running (pid %s)' },
  POSTERN_ERR_MASTER_NOT_RUNNING: { message: 'the Postern mail system is not running' },
  POSTERN_ERR_LISTEN: { message: 'service %s: cannot listen on %s: %s', hint: '%s' },
  POSTERN_ERR_SERVICE_NAME: { message: '%s: unknown service name or port: %s', hint: 'use a number, host:port, or a name from /etc/services' },
  POSTERN_ERR_USAGE: { message: '%s' },
  POSTERN_ERR_BOUNCE_NOTICE: { message: '%s: %s notification not queued: %s', hint: 'is the cleanup service running? the notice is retried' },
  POSTERN_ERR_PROXYMAP_SERVICE: { message: 'service name must be one of %s or %s' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

export class PosternError extends Error {
  readonly code: ErrorCode;
  readonly hint?: string;
  constructor(code: ErrorCode, message: string, hint?: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PosternError';
    this.code = code;
    this.hint = hint;
  }
}

function format(template: string, args: readonly unknown[]): string {
  let i = 0;
  return template.replace(/%s/g, () => String(args[i++] ?? ''));
}

/** Makes the coded error `code`, filling `%s` in message then hint from `args`. */
export function posternError(code: ErrorCode, ...args: unknown[]): PosternError {
  const spec: ErrorSpec = ERRORS[code];
  const count = (spec.message.match(/%s/g) ?? []).length;
  const hint = spec.hint === undefined ? undefined : format(spec.hint, args.slice(count));
  const last = args[args.length - 1];
  const cause = last instanceof Error ? last : undefined;
  return new PosternError(code, format(spec.message, args.slice(0, count)), hint, { cause });
}

export function isPosternError(err: unknown, code?: ErrorCode): err is PosternError {
  return err instanceof PosternError && (code === undefined || err.code === code);
}

/** One line for a user: the message, then the hint if any. */
export function describeError(err: unknown): string {
  if (err instanceof PosternError) return err.hint ? `${err.message} (${err.hint})` : err.message;
  return err instanceof Error ? err.message : String(err);
}
