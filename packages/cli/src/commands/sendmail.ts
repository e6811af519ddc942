/**
 * sendmail(1) - Postfix to Sendmail compatibility interface, and its
 * postdrop(1) step.
 *
 * SYNOPSIS
 *   sendmail [option ...] [recipient ...]
 *   mailq          (sendmail -bp)
 *   newaliases     (sendmail -bI)
 *
 * DESCRIPTION
 *   Reads a message from standard input until end of file or until a line
 *   with only "." (unless -i or -oi), and arranges for delivery. The message
 *   is committed into the maildrop queue of the LMDB queue store directly
 *   (postdrop): this works whether or not the mail system runs. Then
 *   sendmail writes a wakeup to public/pickup; when the system is down it
 *   says "postdrop: warning: unable to look up public/pickup: No such file or
 *   directory", as Postfix does, and exits 0: pickup(8) finds the message
 *   when the system starts.
 *
 *   The maildrop record holds the envelope sender (-f/-r, else the login
 *   name, which cleanup qualifies with $myorigin), the recipients (command
 *   line; with -t also those cleanup extracts from To:, Cc:, Bcc:, Bcc: then
 *   being removed by cleanup's message_drop_headers), the submitter (login
 *   name, uid, -F or $NAME), DSN NOTIFY (-N) per command-line recipient,
 *   RET (-R) and ENVID (-V), and the trace request of -v (record) or -bv
 *   (verify).
 *
 * OPTIONS (Postfix's)
 *   -bm (default) -bp -bs -bv -bi/-I -bd/-bD/-bl (postern start)
 *   -C config_file|config_dir, -F full_name, -f sender, -r sender, -i, -oi,
 *   -t, -N dsn, -R ret, -V envid, -v, -q, -qRsite, -qIqueueid;
 *   accepted and ignored: -B type, -G, -h hops, -L label, -m, -n, -O opt,
 *   -o x (except -oi and -oA), -U, -X file, -x.
 *   -XV (VERP) is not supported and ignored with a warning.
 *
 * EXIT STATUS
 *   0 when the message was queued. Every fatal error exits 75
 *   (EX_TEMPFAIL), usage errors included, as Postfix 3.7's sendmail does,
 *   except a message larger than message_size_limit: 65 (EX_DATAERR).
 *
 *   -bs runs smtpd(8) in this process on a loopback socket pair carrying
 *   stdin/stdout: the client is localhost[127.0.0.1] (smtpd's restrictions
 *   apply: mynetworks decides relaying), addresses are resolved in-process,
 *   and accepted messages go into maildrop like sendmail's own.
 *
 * SECURITY
 *   Postfix writes maildrop through the set-gid postdrop program; Node cannot
 *   be set-gid. sendmail commits into the queue store when its user can open
 *   it (root, mail_owner, the owner of a per-user instance); any other user's
 *   message goes as a file into queue_directory/maildrop, which `postern
 *   set-permissions` makes mode 1733 (world-writable, sticky, not listable:
 *   Postfix's own model before set-gid postdrop), and pickup moves it into
 *   the queue taking the uid from the file's owner. Every maildrop record is
 *   checked again by pickup, which trusts nothing in it. sendmail -bs drops
 *   what its in-process smtpd accepts the same way.
 */
import { accessSync, constants as fsConstants, existsSync, statSync } from 'node:fs';
import { createServer, connect, type Socket } from 'node:net';
import { userInfo } from 'node:os';
import { Transform } from 'node:stream';
import { basename, dirname } from 'node:path';
import { MAIL_CLASS, SERVICE, TRIGGER, dropMaildropFile, maildropDirectory, postdrop, processLogger, serviceContainer, sendTrigger, servicePath, type CleanupRequest, type CleanupResult, type CleanupService, type ConfigView, type DsnNotify, type DsnRet, type Logger, type MaildropRecord, type MaildropSubmitter, type QueueStore, type RewriteService, type TableRegistry } from '@postern/core';
import { createTableRegistry } from '@postern/tables';
import { openQueueStore } from '@postern/queue-lmdb';
import { tok822Internalize, tok822Scan, tok822SplitList } from '@postern/address';
import type { CommandIo } from '../io.js';
import { importProvider } from '../plugins.js';
import { CommandFatal, commandQueueStore, EX, loadCommandConfig, queueCommand } from './queue.js';
import { ADMIN_COMMANDS } from './admin.js';
import { lifecycleCommand } from './lifecycle.js';

const PROGRAM = 'sendmail';
/** Postfix's sendmail exits EX_TEMPFAIL on every fatal error (measured: Postfix 3.7). */
const FATAL = EX.TEMPFAIL;

type Mode = 'deliver' | 'verify' | 'queue' | 'smtp' | 'aliases' | 'daemon' | 'flush';

/** What the command line asked for. */
export interface SendmailOptions {
  mode: Mode;
  configDir?: string;
  sender?: string;
  fullName?: string;
  dotIgnore: boolean;
  extract: boolean;
  notify?: DsnNotify[];
  ret?: DsnRet;
  envid?: string;
  verbose: number;
  flushSite?: string;
  flushId?: string;
  recipients: string[];
  warnings: string[];
}

class Usage extends Error {}

/** Options that take a value (attached or the next argument). */
const WITH_ARG = new Set(['B', 'C', 'F', 'L', 'N', 'O', 'R', 'V', 'X', 'b', 'e', 'f', 'h', 'o', 'p', 'r']);
const FLAGS = new Set(['G', 'I', 'U', 'c', 'i', 'm', 'n', 't', 'v', 'x']);

const NOTIFY_WORDS: Record<string, DsnNotify> = { delay: 'DELAY', failure: 'FAILURE', success: 'SUCCESS', never: 'NEVER' };

function parseNotify(value: string, warnings: string[]): DsnNotify[] | undefined {
  const out: DsnNotify[] = [];
  for (const word of value.split(/[\s,]+/).filter(Boolean)) {
    const n = NOTIFY_WORDS[word.toLowerCase()];
    if (!n) {
      warnings.push(`unknown DSN NOTIFY command value "${word}" in "${value}"`);
      return undefined;
    }
    if (!out.includes(n)) out.push(n);
  }
  if (out.length === 0 || (out.includes('NEVER') && out.length > 1)) return undefined;
  return out;
}

/** xtext-safe ENVID (RFC 3461): printable ASCII, no spaces, at most 100 characters. */
function checkEnvid(value: string, warnings: string[]): string | undefined {
  if (value.length > 100) warnings.push('too long -V option value -- ignored');
  else if (!/^[\x21-\x7e]+$/.test(value)) warnings.push('bad syntax in -V option value -- ignored');
  else return value;
  return undefined;
}

/** Parses sendmail's command line (Postfix's getopt loop in sendmail.c). */
export function parseSendmailArgs(argv: readonly string[]): SendmailOptions {
  const o: SendmailOptions = { mode: 'deliver', dotIgnore: false, extract: false, verbose: 0, recipients: [], warnings: [] };
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      i++;
      break;
    }
    if (!a.startsWith('-') || a === '-') break;
    for (let j = 1; j < a.length; j++) {
      const c = a[j]!;
      if (c === 'q') {
        const v = a.slice(j + 1);
        if (v === '' || /^\d/.test(v)) o.mode = 'flush';
        else if (v[0] === 'R') {
          if (v.length < 2) throw new CommandFatal('specify: -qRsitename', FATAL);
          o.mode = 'flush';
          o.flushSite = v.slice(1);
        } else if (v[0] === 'I') {
          if (v.length < 2) throw new CommandFatal('specify: -qIqueueid', FATAL);
          o.mode = 'flush';
          o.flushId = v.slice(1);
        } else throw new CommandFatal(`-q${v[0]} is not implemented`, FATAL);
        break;
      }
      if (FLAGS.has(c)) {
        if (c === 'i') o.dotIgnore = true;
        else if (c === 't') o.extract = true;
        else if (c === 'v') o.verbose++;
        else if (c === 'I') o.mode = 'aliases';
        continue;
      }
      if (!WITH_ARG.has(c)) throw new Usage(`invalid option -- '${c}'`);
      const rest = a.slice(j + 1);
      const val = rest !== '' ? rest : argv[++i];
      if (val === undefined) throw new Usage(`option requires an argument -- '${c}'`);
      switch (c) {
        case 'b': {
          const modes: Record<string, Mode> = { m: 'deliver', p: 'queue', s: 'smtp', v: 'verify', i: 'aliases', I: 'aliases', d: 'daemon', D: 'daemon', l: 'daemon' };
          const m = modes[val[0]!];
          if (!m || val.length > 1) throw new CommandFatal(`unsupported: -b${val}`, FATAL);
          o.mode = m;
          break;
        }
        case 'C':
          o.configDir = val;
          break;
        case 'F':
          o.fullName = val;
          break;
        case 'f':
        case 'r':
          o.sender = val;
          break;
        case 'N': {
          const n = parseNotify(val, o.warnings);
          if (n) o.notify = n;
          else o.warnings.push('bad -N option value -- ignored');
          break;
        }
        case 'R': {
          const r = val.toLowerCase();
          if (r === 'full') o.ret = 'FULL';
          else if (r === 'hdrs') o.ret = 'HDRS';
          else o.warnings.push('bad -R option value -- ignored');
          break;
        }
        case 'V':
          o.envid = checkEnvid(val, o.warnings) ?? o.envid;
          break;
        case 'X':
          if (val.startsWith('V')) o.warnings.push(`-XV option ignored: VERP is not supported`);
          break;
        case 'o':
          if (val[0] === 'i') o.dotIgnore = true;
          break;
        default:
          break; // -B -L -O -e -h -p: accepted and ignored, as Postfix does
      }
      break;
    }
  }
  o.recipients = argv.slice(i);
  return o;
}

/** The configuration directory of -C (a main.cf file or its directory). */
function configDirOf(value: string): string {
  try {
    if (statSync(value).isFile()) return dirname(value);
  } catch {
    if (basename(value) === 'main.cf') return dirname(value);
  }
  return value;
}

/** Command-line recipients: each argument is an address list (tok822_parse), in internal form. */
function commandLineRecipients(args: readonly string[]): string[] {
  const out: string[] = [];
  for (const arg of args) for (const ext of tok822SplitList(arg)) out.push(tok822Internalize(tok822Scan(ext)));
  return out.filter((r) => r !== '');
}

/** How many addresses the To:, Cc:, Bcc: headers (or their Resent- forms) hold: sendmail -t's check. */
export function headerRecipientCount(content: Buffer): number {
  const text = content.toString('latin1');
  const end = text.search(/\r?\n\r?\n/);
  const head = (end < 0 ? text : text.slice(0, end)).replace(/\r?\n[ \t]/g, ' ');
  const headers = head.split(/\r?\n/).map((l) => /^([^:\s]+):(.*)$/.exec(l)).filter((m): m is RegExpExecArray => !!m);
  const resent = headers.some((m) => /^resent-/i.test(m[1]!));
  let count = 0;
  for (const m of headers) {
    if (!(resent ? /^resent-(to|cc|bcc)$/i : /^(to|cc|bcc)$/i).test(m[1]!)) continue;
    // Group syntax: "name: a, b;" — the display name is not an address.
    const value = m[2]!.replace(/(^|[,;])\s*[^,;:<>"@]*:/g, '$1').replace(/;/g, ',');
    count += tok822SplitList(value).filter((a) => a.trim() !== '').length;
  }
  return count;
}

/** Reads the message from `input`: to end of file, or to a lone "." line unless -i. */
export async function readMessage(input: NodeJS.ReadableStream, dotIgnore: boolean, limit: number): Promise<{ content: Buffer; size: number }> {
  const parts: Buffer[] = [];
  let size = 0;
  let pending: Buffer = Buffer.alloc(0);
  const keep = (b: Buffer) => {
    size += b.length;
    if (limit === 0 || size <= limit) parts.push(b);
  };
  for await (const raw of input) {
    const chunk: Buffer = Buffer.isBuffer(raw) ? raw : Buffer.from(String(raw));
    if (dotIgnore) {
      keep(chunk);
      continue;
    }
    pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    let nl: number;
    while ((nl = pending.indexOf(0x0a)) >= 0) {
      const line = pending.subarray(0, nl + 1);
      pending = pending.subarray(nl + 1);
      const s = line.toString('latin1');
      if (s === '.\n' || s === '.\r\n') return { content: Buffer.concat(parts), size };
      keep(line);
    }
  }
  if (pending.length > 0 && pending.toString('latin1') !== '.' && pending.toString('latin1') !== '.\r') keep(pending);
  return { content: Buffer.concat(parts), size };
}

function loginSubmitter(io: CommandIo, fullName: string | undefined): MaildropSubmitter {
  let user: string;
  try {
    user = userInfo().username;
  } catch {
    throw new CommandFatal(`no login name found for user ID ${process.getuid?.() ?? -1}`, FATAL);
  }
  const name = fullName ?? io.env['NAME'];
  return { user, uid: process.getuid?.() ?? 0, fullName: name || undefined };
}

/** Wakes pickup; a mail system that is down is not an error (the message waits in maildrop). */
async function kickPickup(config: ConfigView, io: CommandIo): Promise<void> {
  const path = servicePath(config, SERVICE.PICKUP);
  if (!existsSync(path)) {
    io.stderr.write(`postdrop: warning: unable to look up ${MAIL_CLASS.PUBLIC}/${SERVICE.PICKUP}: No such file or directory\n`);
    return;
  }
  await sendTrigger(SERVICE.PICKUP, path, TRIGGER.WAKEUP).catch(() => undefined);
}

function openMaildrop(config: ConfigView, who: string): QueueStore {
  // A shared queue (queue_backend = redis): maildrop is in it, as pickup reads it.
  if (config.get('queue_backend') && config.get('queue_backend') !== 'lmdb') return commandQueueStore(config);
  const queueDirectory = config.get('queue_directory');
  if (!queueDirectory || !existsSync(queueDirectory)) throw new CommandFatal(`chdir ${queueDirectory}: No such file or directory`, FATAL);
  try {
    return openQueueStore({ queueDirectory });
  } catch (err) {
    throw new CommandFatal(`${who}: error writing queue file: ${err instanceof Error ? err.message : String(err)}`, FATAL);
  }
}

/**
 * Where sendmail -bs drops what smtpd accepts: the queue store when this user
 * can open it, else (the local lmdb queue) the maildrop directory, as
 * sendmail's own messages (Postfix's stand-alone smtpd uses postdrop too).
 */
function openStandAloneMaildrop(config: ConfigView, who: string): QueueStore | string {
  try {
    return openMaildrop(config, who);
  } catch (err) {
    const queueDirectory = config.get('queue_directory');
    const dir = queueDirectory && maildropDirectory(queueDirectory);
    const shared = config.get('queue_backend') && config.get('queue_backend') !== 'lmdb';
    if (shared || !dir || !existsSync(dir)) throw err;
    return dir;
  }
}

/**
 * postdrop: into the queue store's maildrop queue when this user can open
 * the store (root, mail_owner, the owner of a per-user instance), else as a
 * file in the world-writable maildrop directory (core's maildrop-dir) that
 * pickup moves into the store.
 */
async function commitToMaildrop(config: ConfigView, who: string, record: Omit<MaildropRecord, 'origin' | 'arrivalTime'>, content: Buffer): Promise<void> {
  const queueDirectory = config.get('queue_directory');
  if (!queueDirectory || !existsSync(queueDirectory)) throw new CommandFatal(`chdir ${queueDirectory}: No such file or directory`, FATAL);
  let storeError: unknown;
  try {
    const store = openQueueStore({ queueDirectory });
    try {
      await postdrop(store, record, [content]);
      return;
    } finally {
      await store.close();
    }
  } catch (err) {
    storeError = err;
  }
  const dir = maildropDirectory(queueDirectory);
  try {
    dropMaildropFile(dir, record, [content]);
  } catch (err) {
    const why = (e: unknown) => (e instanceof Error ? e.message : String(e));
    throw new CommandFatal(`${who}: error writing queue file: ${why(storeError)}; ${dir}: ${why(err)} (postern set-permissions makes it writable)`, FATAL);
  }
}

/**
 * CleanupService for sendmail -bs: smtpd's messages go into maildrop like
 * sendmail's own (Postfix's stand-alone smtpd uses postdrop too), so -bs
 * works whether or not the mail system runs.
 */
export class MaildropCleanup implements CleanupService {
  /**
   * `store`: the queue store when this user can open it; a string is the
   * maildrop directory instead (any other user: files that pickup imports).
   */
  constructor(
    private readonly store: QueueStore | string,
    private readonly submitter: MaildropSubmitter,
    private readonly afterDrop: () => Promise<void>,
  ) {}

  async submit(request: CleanupRequest, content: AsyncIterable<Buffer>, onQueueId?: (id: string) => void): Promise<CleanupResult> {
    try {
      const record = {
        sender: request.sender,
        recipients: request.recipients.map((r) => ({ address: r.address, notify: r.notify, orcpt: r.orcpt })),
        dsnRet: request.dsnRet,
        dsnEnvid: request.dsnEnvid,
        submitter: this.submitter,
      };
      let id: string;
      if (typeof this.store === 'string') {
        // smtpd enforced message_size_limit while receiving: the message fits in memory
        const parts: Buffer[] = [];
        for await (const c of content) parts.push(c);
        id = dropMaildropFile(this.store, record, parts);
        onQueueId?.(id);
      } else {
        id = (await postdrop(this.store, record, content, onQueueId)).id;
      }
      await this.afterDrop();
      return { status: 'queued', queueId: id, code: 250, dsn: '2.0.0', text: `Ok: queued as ${id}` };
    } catch (err) {
      return { status: 'tempfail', queueId: '', code: 451, dsn: '4.3.0', text: `Error: queue file write error: ${err instanceof Error ? err.message : String(err)}` };
    }
  }
}

/** Passes SMTP client input through, noting whether its last command (outside DATA) was QUIT. */
class SmtpInputTracker extends Transform {
  quit = false;
  #inData = false;
  #partial = '';

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null, data?: Buffer) => void): void {
    const lines = (this.#partial + chunk.toString('latin1')).split('\n');
    this.#partial = lines.pop() ?? '';
    for (const raw of lines) {
      const line = raw.replace(/\r$/, '');
      if (this.#inData) {
        if (line === '.') this.#inData = false;
        continue;
      }
      const verb = line.trim().split(/\s+/)[0]?.toUpperCase() ?? '';
      this.quit = verb === 'QUIT';
      if (verb === 'DATA') this.#inData = true;
    }
    done(null, chunk);
  }
}

/** What sendmail -bs uses of the smtpd and trivial-rewrite packages' main modules. */
interface SmtpdModule {
  createSmtpd(
    config: ConfigView,
    log: Logger,
    container: ReturnType<typeof serviceContainer>['container'],
    options: { tables: TableRegistry },
  ): Promise<{ accept(socket: Socket): void; stop(graceful: boolean): Promise<void> }>;
}
interface RewriteModule {
  TrivialRewrite: new (config: ConfigView, tables: TableRegistry, log: Logger) => RewriteService;
}

/** True when this process may append to `file` (or create it); "" and /dev/ names are the logger's streams. */
function canAppend(file: string): boolean {
  if (!file || file.startsWith('/dev/')) return true;
  try {
    accessSync(existsSync(file) ? file : dirname(file), fsConstants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** -bs: an SMTP session on stdin/stdout, served by smtpd in this process. */
async function standAloneSmtp(config: ConfigView, io: CommandIo, submitter: MaildropSubmitter): Promise<number> {
  const store = openStandAloneMaildrop(config, `${submitter.user}(${submitter.uid})`);
  const quiet: CommandIo = { ...io, stderr: { write: () => true } as unknown as NodeJS.WritableStream };
  const cleanup = new MaildropCleanup(store, submitter, () => kickPickup(config, quiet));
  // a user who may not write maillog_file (mail_owner's): warnings to stderr only
  // (Postfix's non-root commands would log through postlogd)
  const maillog = config.get('maillog_file');
  const log = canAppend(maillog) ? processLogger(config, 'smtpd') : processLogger(config, 'smtpd', { file: '/dev/null', stderr: true });
  // Address resolution in this process too: -bs needs no running service.
  const tables = createTableRegistry({ log });
  // smtpd and trivial-rewrite through the plugin loader: whatever package provides them
  const configDir = config.get('config_directory');
  const { TrivialRewrite } = await importProvider<RewriteModule>(configDir, 'trivial-rewrite', FATAL);
  const { createSmtpd } = await importProvider<SmtpdModule>(configDir, 'smtpd', FATAL);
  if (typeof TrivialRewrite !== 'function' || typeof createSmtpd !== 'function') {
    throw new CommandFatal('the installed smtpd or trivial-rewrite package cannot run in-process (no createSmtpd/TrivialRewrite export)', FATAL);
  }
  const rewrite = new TrivialRewrite(config, tables, log);
  // cleanup and trivial-rewrite bound in this process (no socket); anvil, verify, flush to their services
  const services = serviceContainer(config, log, {
    [SERVICE.CLEANUP]: cleanup,
    [SERVICE.REWRITE]: rewrite,
  });
  const smtpd = await createSmtpd(config, log, services.container, { tables });
  // smtpd serves sockets: a loopback pair carries stdin/stdout (the client is
  // localhost[127.0.0.1], as Postfix's stand-alone smtpd calls it).
  const server = createServer((s) => smtpd.accept(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  const client: Socket = connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    client.once('connect', resolve);
    client.once('error', reject);
  });
  client.pipe(io.stdout as NodeJS.WritableStream, { end: false });
  // Input that ends with QUIT is left to smtpd to finish (the last DATA may
  // still be queueing); input that just stops is a lost connection.
  const tracker = new SmtpInputTracker();
  io.stdin.pipe(tracker).pipe(client, { end: false });
  tracker.once('end', () => {
    if (!tracker.quit) client.end();
  });
  await new Promise<void>((resolve) => client.once('close', () => resolve()));
  io.stdin.unpipe(tracker);
  (io.stdin as NodeJS.ReadableStream & { pause?: () => void }).pause?.();
  await smtpd.stop(true);
  await new Promise<void>((r) => server.close(() => r()));
  await services.close();
  if (typeof store !== 'string') await store.close();
  return 0;
}

async function deliver(o: SendmailOptions, config: ConfigView, io: CommandIo): Promise<number> {
  const submitter = loginSubmitter(io, o.fullName);
  const who = `${submitter.user}(${submitter.uid})`;
  let sender = o.sender ?? submitter.user;
  if (o.sender !== undefined) {
    if (/[\r\n\0]/.test(sender)) throw new CommandFatal(`-f option specified malformed sender: ${sender}`, FATAL);
    sender = sender.replace(/^<(.*)>$/, '$1');
  }
  const verify = o.mode === 'verify';
  if (verify) {
    if (o.extract) throw new CommandFatal(`${who}: -t option cannot be used with -bv`, FATAL);
    if (o.notify) throw new CommandFatal('-N option cannot be used with -bv', FATAL);
    if (o.ret) throw new CommandFatal('-R option cannot be used with -bv', FATAL);
    if (o.verbose) throw new CommandFatal('-v option cannot be used with -bv', FATAL);
  }
  const recipients = commandLineRecipients(o.recipients);
  if (recipients.length === 0 && !o.extract) {
    throw new CommandFatal(`${who}: Recipient addresses must be specified on the command line or via the -t option`, FATAL);
  }
  const limit = config.size('message_size_limit');
  const { content, size } = verify ? { content: Buffer.alloc(0), size: 0 } : await readMessage(io.stdin, o.dotIgnore, limit);
  if (limit > 0 && size > limit) throw new CommandFatal(`${who}: message file too big`, EX.DATAERR);
  if (o.extract && recipients.length === 0 && headerRecipientCount(content) === 0) {
    throw new CommandFatal(`${who}: No recipient addresses found in message header`, FATAL);
  }
  const traceFlags = verify ? (['verify'] as const) : o.verbose > 0 ? (['record'] as const) : undefined;
  const record: Omit<MaildropRecord, 'origin' | 'arrivalTime'> = {
    sender,
    recipients: recipients.map((address) => ({ address, notify: o.notify })),
    dsnRet: o.ret,
    dsnEnvid: o.envid,
    submitter,
    cleanupFlags: o.extract ? { extractRecipients: true } : undefined,
    traceFlags: traceFlags ? [...traceFlags] : undefined,
  };
  await commitToMaildrop(config, who, record, content);
  await kickPickup(config, io);
  if (traceFlags) io.stdout.write(`Mail Delivery Status Report will be mailed to <${sender}>.\n`);
  return 0;
}

/** sendmail(1); `invokedAs` is the program name (sendmail, mailq, newaliases). */
export async function sendmailCommand(argv: string[], io: CommandIo, invokedAs = PROGRAM): Promise<number> {
  const program = basename(invokedAs);
  try {
    if (program === 'mailq') argv = ['-bp', ...argv];
    else if (program === 'newaliases') argv = ['-I', ...argv];
    let o: SendmailOptions;
    try {
      o = parseSendmailArgs(argv);
    } catch (err) {
      if (!(err instanceof Usage)) throw err;
      io.stderr.write(`${PROGRAM}: ${err.message}\n`);
      throw new CommandFatal(`usage: ${PROGRAM} [options]`, FATAL);
    }
    for (const w of o.warnings) io.stderr.write(`${PROGRAM}: warning: ${w}\n`);
    const env: NodeJS.ProcessEnv = o.configDir ? { ...io.env, MAIL_CONFIG: configDirOf(o.configDir) } : io.env;
    const cio: CommandIo = { ...io, env };
    const noRecipient: Partial<Record<Mode, string>> = {
      queue: 'display queue mode requires no recipient',
      flush: 'flush queue mode requires no recipient',
      daemon: 'daemon mode requires no recipient',
      aliases: 'alias initialization mode requires no recipient',
      smtp: 'stand-alone mode requires no recipient',
    };
    const complaint = noRecipient[o.mode];
    if (complaint && o.recipients.length > 0) {
      if (o.mode === 'flush' && o.flushSite) throw new CommandFatal('flush site requires no recipient', FATAL);
      if (o.mode === 'flush' && o.flushId) throw new CommandFatal('flush queue_id requires no recipient', FATAL);
      throw new CommandFatal(complaint, FATAL);
    }
    if (o.extract && o.mode !== 'deliver' && o.mode !== 'verify') throw new CommandFatal('-t can be used only in delivery mode', FATAL);
    const withDir = (args: string[]) => (o.configDir ? [...args, '-c', configDirOf(o.configDir)] : args);
    switch (o.mode) {
      case 'queue':
        return await queueCommand(withDir(['-p']), cio);
      case 'flush':
        return await queueCommand(withDir(o.flushSite ? ['-s', o.flushSite] : o.flushId ? ['-i', o.flushId] : ['-f']), cio);
      case 'aliases':
        return await ADMIN_COMMANDS['newaliases']!([], cio);
      case 'daemon':
        return await lifecycleCommand('start', withDir([]), cio);
      default:
        break;
    }
    let config: ConfigView;
    try {
      config = await loadCommandConfig(undefined, cio);
    } catch (err) {
      throw new CommandFatal(err instanceof Error ? err.message : String(err), FATAL);
    }
    if (o.mode === 'smtp') return await standAloneSmtp(config, io, loginSubmitter(io, o.fullName));
    return await deliver(o, config, io);
  } catch (err) {
    const status = err instanceof CommandFatal ? err.status : FATAL;
    io.stderr.write(`${PROGRAM}: fatal: ${err instanceof Error ? err.message : String(err)}\n`);
    return status;
  }
}
