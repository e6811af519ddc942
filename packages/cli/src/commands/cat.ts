/**
 * postcat(1) as `postern cat`: show a queued message.
 *
 *   postern cat [-bdehov] [-c config_dir] -q queue_id...
 *
 * The message is looked up in the maildrop, incoming, active, deferred, hold
 * and corrupt queues. Output has postcat's shape: "*** ENVELOPE RECORDS
 * queue/ID ***", the envelope as Postfix's record names (message_size,
 * message_arrival_time, create_time, named_attribute, sender,
 * original_recipient, recipient, done_recipient, ...), "*** MESSAGE CONTENTS
 * queue/ID ***", the header and body lines, "*** HEADER EXTRACTED queue/ID
 * ***" and "*** MESSAGE FILE END queue/ID ***". -e, -h and -b select the
 * envelope, the header and the body (default all three), -v prefixes content
 * lines with "regular_text: ", -d prints Postfix's record type numbers.
 *
 * Postern keeps the envelope as structured data and the content as bytes,
 * not as a record file: -o prints, for content lines, their byte offset in
 * the message content (the one meaningful offset); envelope records and
 * markers get the offset of the content position they stand at (0 for the
 * envelope). Reading a file or standard input (postcat without -q) is not
 * possible: Postern has no queue files.
 */
import {
  DELIVERY_LOG,
  isQueueId,
  type DsnNotify,
  type QueueStore,
  type QueuedMessage,
} from '@postern/core';
import { hasOpt, optValue } from '../getopt.js';
import type { CommandIo } from '../io.js';
import { asctimeOf, CommandFatal, commandQueueStore, EX, loadCommandConfig, parseArgs, runCommand, UsageError } from './queue.js';

const PROGRAM = 'postcat';
const USAGE = 'postcat [-b (body text)] [-c config_dir] [-d (decimal record type)] [-e (envelope records)] [-h (header text)] [-q (access queue)] [-v] [file(s)...]';

/** rec_type.h: record type letters, for -d. */
const REC = {
  message_size: 'C',
  message_arrival_time: 'T',
  create_time: 'A',
  named_attribute: 'A',
  sender_fullname: 'F',
  sender: 'S',
  original_recipient: 'O',
  recipient: 'R',
  done_recipient: 'D',
  dsn_original_recipient: 'o',
  dsn_notify_flags: 'n',
  dsn_return: '<',
  dsn_envelope_id: 'i',
  content_filter: 'L',
  redirect_to: '>',
  warning_message_time: 'W',
  message_content: 'M',
  regular_text: 'N',
  extracted_info: 'X',
  message_end: 'E',
} as const;
type RecName = keyof typeof REC;

/** DSN NOTIFY as Postfix stores it (dsn_mask.h): NEVER 1, SUCCESS 2, FAILURE 4, DELAY 8. */
function notifyMask(notify: readonly DsnNotify[]): number {
  const bits: Record<DsnNotify, number> = { NEVER: 1, SUCCESS: 2, FAILURE: 4, DELAY: 8 };
  return notify.reduce((m, n) => m | bits[n], 0);
}

interface Flags {
  readonly env: boolean;
  readonly header: boolean;
  readonly body: boolean;
  readonly offsets: boolean;
  readonly decimal: boolean;
  readonly verbose: boolean;
}

/** The envelope of `m` as (record, value) pairs in a Postfix queue file's order. */
export function envelopeRecords(m: QueuedMessage): [RecName, string][] {
  const out: [RecName, string][] = [];
  const active = m.recipients.filter((r) => !r.done).length;
  const pad = (n: number) => String(n).padStart(15);
  out.push(['message_size', [m.size, 0, active, 0, m.size, m.smtputf8 ? 1 : 0].map(pad).join(' ')]);
  out.push(['message_arrival_time', asctimeOf(m.arrivalTime)]);
  out.push(['create_time', asctimeOf(m.arrivalTime)]);
  if (m.filter) out.push(['content_filter', m.filter]);
  if (m.redirect) out.push(['redirect_to', m.redirect]);
  if (m.dsnRet) out.push(['dsn_return', m.dsnRet === 'FULL' ? '1' : '2']);
  if (m.dsnEnvid) out.push(['dsn_envelope_id', m.dsnEnvid]);
  const attr = (name: string, value: string | number | undefined) => {
    if (value !== undefined && value !== '') out.push(['named_attribute', `${name}=${value}`]);
  };
  attr('log_client_name', m.client?.name);
  attr('log_client_address', m.client?.address);
  attr('log_client_port', m.client?.port);
  attr('log_message_origin', m.client?.log);
  attr('log_helo_name', m.client?.helo);
  attr('log_protocol_name', m.client?.protocol);
  attr('sasl_method', m.sasl?.method);
  attr('sasl_username', m.sasl?.username);
  attr('sasl_sender', m.sasl?.sender);
  attr('encoding', m.bodyType === '8BITMIME' ? '8bit' : m.bodyType === '7BIT' ? '7bit' : m.bodyType?.toLowerCase());
  if (m.smtputf8) attr('smtputf8', 1);
  attr('origin', m.origin);
  attr('message_id', m.messageId);
  if (m.traceFlags?.length) attr('trace_flags', m.traceFlags.join(','));
  out.push(['sender', m.sender]);
  for (const r of m.recipients) {
    if (r.original !== undefined) out.push(['original_recipient', r.original]);
    if (r.orcpt) out.push(['dsn_original_recipient', r.orcpt]);
    if (r.notify?.length) out.push(['dsn_notify_flags', String(notifyMask(r.notify))]);
    out.push([r.done ? 'done_recipient' : 'recipient', r.address]);
  }
  if (m.warned) out.push(['warning_message_time', asctimeOf(m.warned)]);
  return out;
}

/** RFC 5322 header line or continuation (Postfix is_header() or leading white space). */
function headerLine(line: string): boolean {
  return /^[\x21-\x39\x3b-\x7e]+[ \t]*:/.test(line) || /^[ \t]/.test(line);
}

async function printMessage(store: QueueStore, id: string, flags: Flags, io: CommandIo): Promise<void> {
  const m = await store.get(id);
  if (!m) throw new CommandFatal(`open queue file ${id}: No such file or directory`);
  const path = `${m.queue}/${id}`;
  const out = io.stdout;
  const prefix = (offset: number, rec: RecName) =>
    (flags.offsets ? `${String(offset).padStart(9)} ` : '') + (flags.decimal ? `${String(REC[rec].charCodeAt(0)).padStart(3)} ` : '');
  const marker = (offset: number, rec: RecName, text: string) => {
    if (flags.env) out.write(`${prefix(offset, rec)}*** ${text} ${path} ***\n`);
  };
  if (flags.env) {
    out.write(`*** ENVELOPE RECORDS ${path} ***\n`);
    for (const [rec, value] of envelopeRecords(m)) out.write(`${prefix(0, rec)}${rec}: ${value}\n`);
  }
  marker(0, 'message_content', 'MESSAGE CONTENTS');
  if (flags.header || flags.body) {
    let inHeader = true;
    let partial = '';
    let partialAt = 0;
    const line = (text: string, at: number) => {
      if (inHeader && !headerLine(text)) inHeader = false;
      if (inHeader ? !flags.header : !flags.body) return;
      out.write(`${prefix(at, 'regular_text')}${flags.verbose ? 'regular_text: ' : ''}${text}\n`);
    };
    for await (const chunk of store.readContent(id)) {
      const text = partial + chunk.toString('latin1');
      let start = 0;
      let at = partialAt;
      for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', start)) {
        const raw = text.slice(start, nl);
        line(Buffer.from(raw.endsWith('\r') ? raw.slice(0, -1) : raw, 'latin1').toString('utf8'), at);
        at += nl + 1 - start;
        start = nl + 1;
      }
      partial = text.slice(start);
      partialAt = at;
    }
    if (partial !== '') line(Buffer.from(partial, 'latin1').toString('utf8'), partialAt);
  }
  marker(m.size, 'extracted_info', 'HEADER EXTRACTED');
  if (flags.env) {
    const deferred = await store.readLog(DELIVERY_LOG.DEFER, id).catch(() => []);
    if (flags.verbose) for (const r of deferred) out.write(`${prefix(m.size, 'named_attribute')}named_attribute: defer_reason=${r.recipient}: ${r.reason}\n`);
  }
  marker(m.size, 'message_end', 'MESSAGE FILE END');
}

/** `postern cat ...` (postcat(1)). */
export async function catCommand(argv: string[], io: CommandIo): Promise<number> {
  return runCommand(io, PROGRAM, USAGE, async () => {
    const p = parseArgs(argv, 'bc:dehoqrs:v', io, PROGRAM);
    let env = hasOpt(p, 'e');
    let header = hasOpt(p, 'h');
    let body = hasOpt(p, 'b');
    if (!env && !header && !body) env = header = body = true;
    const flags: Flags = { env, header, body, offsets: hasOpt(p, 'o'), decimal: hasOpt(p, 'd'), verbose: hasOpt(p, 'v') };
    if (hasOpt(p, 's')) throw new CommandFatal('-s offset: Postern has no queue files to seek in');
    if (!hasOpt(p, 'q')) {
      if (p.args.length === 0) throw new CommandFatal('stdin: Postern has no queue files; use -q queue_id');
      throw new CommandFatal(`open ${p.args[0]}: Postern has no queue files; use -q queue_id`);
    }
    if (p.args.length === 0) throw new UsageError();
    for (const id of p.args) if (!isQueueId(id)) throw new CommandFatal(`bad mail queue ID: ${id}`);
    const config = await loadCommandConfig(optValue(p, 'c'), io);
    const store = commandQueueStore(config);
    try {
      for (const id of p.args) await printMessage(store, id, flags, io);
    } finally {
      await store.close();
    }
    return EX.OK;
  });
}
