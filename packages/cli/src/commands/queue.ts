/**
 * postqueue(1) as `postern queue`: list the queue and flush it.
 *
 *   postern queue [-v] [-c config_dir] -f | -i queue_id | -j | -p | -s site
 *
 * -p prints Postfix's mailq format, -j one JSON object per message with
 * postqueue's field names. Both come from the showq(8) service as a stream of
 * rows (one IPC call; a row is printed as it arrives, so a queue of any size
 * lists in bounded memory). Postfix's postqueue requires the running system
 * (or root) for a listing; Postern falls back to reading the queue store
 * directly when showq cannot be reached, with the same rows and a warning
 * ("Mail system is down -- accessing queue directly"), as Postfix does for
 * the super-user.
 *
 * -f asks qmgr to forget dead destinations and scan the deferred queue
 * ignoring time stamps and then the incoming queue (triggers F, D, A, I, as
 * mail_flush_deferred()), wakes pickup when it runs, and asks the flush
 * service to refresh its logs when it runs. -s site and -i queue_id go
 * through the flush(8) service. These need the running mail system: exit 69
 * (EX_UNAVAILABLE) "Cannot flush mail queue - mail system is down".
 *
 * This module also holds the helpers the other admin commands share
 * (configuration loading, the queue store, fatal messages).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ServiceClients, COMMAND_PACKAGES, runningMasterPid, createConfigView, flushLogs, discoverPlugins, flushClient, isPosternError, isQueueId, loadMainCf, MAIL_CLASS, openConfiguredQueueStore, backendRegistry, processLogger, type InstalledPlugin, type QueueStore, parameterRegistry, pluginDirsFromMainCf, sendTrigger, SERVICE, servicePath, showqClient, StoreShowq, TRIGGER, type ConfigView, type ShowqRow, type ShowqSummary } from '@postern/core';
import { openQueueStore, type LmdbQueueStore } from '@postern/queue-lmdb';
import { getopt, hasOpt, optValue, type Parsed } from '../getopt.js';
import { configDirectory } from '../instance.js';
import type { CommandIo } from '../io.js';

/** sysexits(3) values Postfix's commands use. */
export const EX = { OK: 0, FATAL: 1, USAGE: 64, DATAERR: 65, NOINPUT: 66, UNAVAILABLE: 69, SOFTWARE: 70, IOERR: 74, TEMPFAIL: 75, NOPERM: 77 } as const;

/** A fatal error with an exit status, as msg_fatal_status(). */
export class CommandFatal extends Error {
  constructor(
    message: string,
    readonly status: number = EX.FATAL,
  ) {
    super(message);
  }
}

/** "program: fatal: text" on stderr; returns the status. */
export function fatal(io: CommandIo, program: string, text: string, status: number = EX.FATAL): number {
  io.stderr.write(`${program}: fatal: ${text}\n`);
  return status;
}

/** Runs a command body, turning CommandFatal and getopt errors into Postfix-style messages. */
const commandConnections = new Map<ConfigView, ServiceClients>();

/** The service connections of the command being run (closed when it ends, by runCommand). */
export function commandClients(config: ConfigView): ServiceClients {
  let clients = commandConnections.get(config);
  if (!clients) commandConnections.set(config, (clients = new ServiceClients(config)));
  return clients;
}

export async function runCommand(io: CommandIo, program: string, usage: string, body: () => Promise<number>, usageStatus: number = EX.FATAL): Promise<number> {
  try {
    return await body();
  } catch (err) {
    if (err instanceof CommandFatal) return fatal(io, program, err.message, err.status);
    if (err instanceof UsageError) return fatal(io, program, `usage: ${usage}`, usageStatus);
    return fatal(io, program, err instanceof Error ? err.message : String(err));
  } finally {
    // Service connections would keep the process alive until ipc_idle; log lines must reach the file.
    for (const clients of commandConnections.values()) clients.close();
    commandConnections.clear();
    await flushLogs();
  }
}

export class UsageError extends Error {}

/** getopt that throws UsageError (after printing getopt's own complaint, as Postfix's GETOPT does). */
export function parseArgs(argv: readonly string[], spec: string, io: CommandIo, program: string): Parsed {
  try {
    return getopt(argv, spec);
  } catch (err) {
    io.stderr.write(`${program}: ${(err as Error).message}\n`);
    throw new UsageError();
  }
}

/** The configuration of a command: -c, else $MAIL_CONFIG, else the default instance. */
export async function loadCommandConfig(explicit: string | undefined, io: CommandIo): Promise<ConfigView> {
  const { dir } = configDirectory(explicit, io.env);
  if (!existsSync(join(dir, 'main.cf'))) throw new CommandFatal(`open ${join(dir, 'main.cf')}: No such file or directory`);
  const plugins = await discoverPlugins(pluginDirsFromMainCf(dir));
  const registry = parameterRegistry(plugins);
  const mainCf = await loadMainCf(dir);
  const config = createConfigView({ mainCf, registry, configDirectory: dir });
  commandPlugins.set(config, plugins.plugins);
  return config;
}

/** The installed packages a command's configuration was loaded with (their queue backends). */
const commandPlugins = new WeakMap<ConfigView, readonly InstalledPlugin[]>();

/**
 * The queue store of `config` (works whether or not the mail system runs):
 * the one queue_backend names; postsuper -s (check, repair) exists only
 * for the LMDB queue.
 */
export function commandQueueStore(config: ConfigView): QueueStore & Partial<Pick<LmdbQueueStore, 'check' | 'repair'>> {
  const queueDirectory = config.get('queue_directory');
  if (config.get('queue_backend') && config.get('queue_backend') !== 'lmdb') {
    return openConfiguredQueueStore(backendRegistry(commandPlugins.get(config) ?? []), config, processLogger(config, 'postqueue', { stderr: false }));
  }
  if (!queueDirectory || !existsSync(queueDirectory)) throw new CommandFatal(`chdir ${queueDirectory}: No such file or directory`, EX.UNAVAILABLE);
  return openQueueStore({ queueDirectory });
}

/** Why the showq service did not answer: the system is down, or it runs without showq. */
async function whyNoShowq(config: ConfigView): Promise<string> {
  if (!runningMasterPid(config)) return 'Mail system is down';
  const installed = (await discoverPlugins(pluginDirsFromMainCf(config.get('config_directory')))).commands.has(SERVICE.SHOWQ);
  return installed
    ? 'the mail system runs without a showq service (see master.cf)'
    : `the mail system runs without a showq service: no installed package provides it (install ${COMMAND_PACKAGES[SERVICE.SHOWQ]})`;
}

/** True when the service's socket exists (master listens on it). */
export function serviceListening(config: ConfigView, service: string): boolean {
  return existsSync(servicePath(config, service));
}

// ---------------------------------------------------------------- formatting

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** asctime(localtime(t)) without the newline: "Sat Nov 21 07:00:00 2020". */
export function asctimeOf(ms: number): string {
  const d = new Date(ms);
  const p2 = (n: number) => String(n).padStart(2, '0');
  return `${DAYS[d.getDay()]} ${MONTHS[d.getMonth()]} ${String(d.getDate()).padStart(2, ' ')} ${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())} ${d.getFullYear()}`;
}

/**
 * showq_compat.c's formats. Postern's queue IDs are Postfix's long IDs, so
 * the listing uses the long-ID layout (Postfix picks it with
 * enable_long_queue_ids = yes); the short layout is kept for short IDs.
 */
const LAYOUT = {
  long: { id: 17, size: 8, time: 19, headings: ['----Queue ID-----', '--Size--', '---Arrival Time----', '--Sender/Recipient------'] },
  short: { id: 11, size: 7, time: 20, headings: ['-Queue ID-', '--Size--', '----Arrival Time----', '-Sender/Recipient-------'] },
} as const;
export type MailqLayout = keyof typeof LAYOUT;

/** STRING_FORMAT: "%-17s %8s %-19s %s\n" (long) or "%-11s %7s %-20s %s\n" (short). */
function cols(layout: MailqLayout, a: string, b: string, c: string, d: string): string {
  const L = LAYOUT[layout];
  return `${a.padEnd(L.id)} ${b.padStart(L.size)} ${c.padEnd(L.time)} ${d}\n`;
}

/** The heading line of a -p listing. */
export function mailqHeading(layout: MailqLayout = 'long'): string {
  const [a, b, c, d] = LAYOUT[layout].headings;
  return cols(layout, a, b, c, d);
}

/** One message of a -p listing (without the blank line between messages). */
export function formatMailqRow(row: ShowqRow, layout: MailqLayout = 'long'): string {
  const L = LAYOUT[layout];
  let id = row.queue_id;
  if (row.queue_name === 'active') id += '*';
  else if (row.queue_name === 'hold') id += '!';
  if (row.forced_expire) id += '#';
  const time = asctimeOf(row.arrival_time * 1000).padEnd(L.time).slice(0, L.time);
  let out = `${id.padEnd(L.id)} ${String(row.message_size).padStart(L.size)} ${time} ${row.sender}\n`;
  let saved = '';
  for (const r of row.recipients) {
    const why = r.delay_reason ?? '';
    if (why !== saved) {
      saved = why;
      const show = why || 'reason unavailable';
      out += `${' '.repeat(Math.max(0, 76 - show.length))}(${show})\n`;
    }
    out += cols(layout, '', '', '', r.address);
  }
  return out;
}

/** The trailer of a -p listing. */
export function mailqTrailer(summary: ShowqSummary): string {
  if (summary.messages === 0) return 'Mail queue is empty\n';
  return `\n-- ${Math.floor(summary.bytes / 1024)} Kbytes in ${summary.messages} Request${summary.messages === 1 ? '' : 's'}.\n`;
}

/** One line of -j output, spaced as showq_json.c prints it ({"name": value, ...}). */
export function formatJsonRow(row: ShowqRow): string {
  const q = (v: string) => JSON.stringify(v);
  const recipients = row.recipients
    .map((r) => `{"address": ${q(r.address)}${r.delay_reason ? `, "delay_reason": ${q(r.delay_reason)}` : ''}}`)
    .join(', ');
  return (
    `{"queue_name": ${q(row.queue_name)}, "queue_id": ${q(row.queue_id)}, "arrival_time": ${row.arrival_time}, ` +
    `"message_size": ${row.message_size}, "forced_expire": ${row.forced_expire}, "sender": ${q(row.sender)}, ` +
    `"recipients": [${recipients}]}\n`
  );
}

// ---------------------------------------------------------------- listing

/** Waits until `out` can take more (a pipe or file that is behind). */
function drained(out: NodeJS.WritableStream): Promise<void> | undefined {
  const w = out as NodeJS.WritableStream & { writableNeedDrain?: boolean };
  if (!w.writableNeedDrain) return undefined;
  return new Promise((resolve) => w.once('drain', () => resolve()));
}

export interface ListOptions {
  readonly json: boolean;
  readonly verbose?: boolean;
}

/**
 * Prints the queue listing of `config` to io.stdout: through showq when it
 * runs, else directly from the queue store. Returns the exit status.
 */
export async function listQueue(config: ConfigView, io: CommandIo, options: ListOptions, program = 'postqueue'): Promise<number> {
  const out = io.stdout;
  let count = 0;
  const onRow = (row: ShowqRow): Promise<void> | undefined => {
    if (options.json) out.write(formatJsonRow(row));
    else out.write((count === 0 ? mailqHeading() : '\n') + formatMailqRow(row));
    count++;
    return drained(out);
  };
  const emptyAddress = config.get('empty_address_recipient') || 'MAILER-DAEMON';
  let summary: ShowqSummary | undefined;
  if (serviceListening(config, SERVICE.SHOWQ)) {
    try {
      summary = await showqClient(commandClients(config)).list(onRow, { emptyAddress });
      if (options.verbose) io.stderr.write(`${program}: showq: ${summary.messages} message(s)\n`);
    } catch (err) {
      if (!isPosternError(err, 'POSTERN_ERR_IPC_CONNECT') || count > 0) {
        throw new CommandFatal(`showq service: ${(err as Error).message}`, EX.SOFTWARE);
      }
    }
  }
  if (!summary) {
    io.stderr.write(`${program}: warning: ${await whyNoShowq(config)} -- accessing queue directly\n`);
    const store = commandQueueStore(config);
    try {
      summary = await new StoreShowq(store).list(onRow, { emptyAddress });
    } finally {
      await store.close();
    }
  }
  if (!options.json) out.write(mailqTrailer(summary));
  return EX.OK;
}

// ---------------------------------------------------------------- flushing

const DOWN = 'Cannot flush mail queue - mail system is down';

/** postqueue -f: mail_flush_deferred() and mail_flush_maildrop(). */
export async function flushQueue(config: ConfigView, io: CommandIo, verbose = false, program = 'postqueue'): Promise<number> {
  const bytes = TRIGGER.FLUSH_DEAD + TRIGGER.SCAN_DEFERRED + TRIGGER.SCAN_ALL + TRIGGER.SCAN_INCOMING;
  try {
    await sendTrigger(SERVICE.QMGR, servicePath(config, SERVICE.QMGR), bytes);
  } catch {
    throw new CommandFatal(DOWN, EX.UNAVAILABLE);
  }
  if (verbose) io.stderr.write(`${program}: trigger ${MAIL_CLASS.PUBLIC}/${SERVICE.QMGR} ${bytes}\n`);
  if (serviceListening(config, SERVICE.PICKUP)) {
    try {
      await sendTrigger(SERVICE.PICKUP, servicePath(config, SERVICE.PICKUP), TRIGGER.WAKEUP);
    } catch {
      throw new CommandFatal(DOWN, EX.UNAVAILABLE);
    }
  }
  if (serviceListening(config, SERVICE.FLUSH)) {
    const status = await flushClient(commandClients(config)).refresh();
    if (verbose) io.stderr.write(`${program}: flush refresh: ${status}\n`);
  }
  return EX.OK;
}

/** valid_hostname() / valid_mailhost_literal() as postqueue -s checks them. */
function validSite(site: string): boolean {
  if (site.startsWith('[')) return /^\[(?:IPv6:[0-9A-Fa-f:.]+|\d{1,3}(?:\.\d{1,3}){3})\]$/.test(site);
  return site.length <= 255 && /^[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?$/.test(site) && !site.includes('..');
}

/** postqueue -s site (also sendmail -qRsite). */
export async function flushSite(config: ConfigView, site: string): Promise<number> {
  if (!validSite(site)) {
    throw new CommandFatal(`Cannot flush mail queue - invalid destination: "${site.slice(0, 100)}${site.length > 100 ? '...' : ''}"`, EX.USAGE);
  }
  switch (await flushClient(commandClients(config)).sendSite(site)) {
    case 'ok':
      return EX.OK;
    case 'bad':
      throw new CommandFatal(`Invalid request: "${site}"`, EX.USAGE);
    case 'deny':
      throw new CommandFatal(`Flush service is not configured for destination "${site}"`, EX.UNAVAILABLE);
    default:
      throw new CommandFatal(DOWN, EX.UNAVAILABLE);
  }
}

/** postqueue -i queue_id. */
export async function flushFile(config: ConfigView, id: string): Promise<number> {
  if (!isQueueId(id)) throw new CommandFatal(`Invalid request: "${id}"`, EX.USAGE);
  switch (await flushClient(commandClients(config)).sendFile(id)) {
    case 'ok':
      return EX.OK;
    case 'bad':
      throw new CommandFatal(`Invalid request: "${id}"`, EX.USAGE);
    default:
      throw new CommandFatal(DOWN, EX.UNAVAILABLE);
  }
}

// ---------------------------------------------------------------- the command

const USAGE = 'postqueue -f | postqueue -i queueid | postqueue -j | postqueue -p | postqueue -s site';

/** `postern queue ...` (postqueue(1)); also `queueCommand(['-p'])` for mailq / sendmail -bp. */
export async function queueCommand(argv: string[], io: CommandIo): Promise<number> {
  const program = 'postqueue';
  return runCommand(
    io,
    program,
    USAGE,
    async () => {
      const p = parseArgs(argv, 'c:fi:jps:v', io, program);
      const modes = p.opts.filter(([k]) => 'fijps'.includes(k));
      if (modes.length !== 1 || p.args.length > 0) throw new UsageError();
      const [mode, value] = modes[0]!;
      const verbose = hasOpt(p, 'v');
      const config = await loadCommandConfig(optValue(p, 'c'), io);
      switch (mode) {
        case 'p':
          return listQueue(config, io, { json: false, verbose }, program);
        case 'j':
          return listQueue(config, io, { json: true, verbose }, program);
        case 'f':
          return flushQueue(config, io, verbose, program);
        case 's':
          return flushSite(config, String(value));
        default:
          return flushFile(config, String(value));
      }
    },
    EX.USAGE,
  );
}
