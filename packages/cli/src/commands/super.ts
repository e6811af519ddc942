/**
 * postsuper(1) as `postern super`: queue maintenance.
 *
 *   postern super [-psSv] [-c config_dir] [-d queue_id] [-e queue_id]
 *                 [-f queue_id] [-h queue_id] [-H queue_id] [-r queue_id] [queue ...]
 *
 * -d deletes (default queues hold, incoming, active, deferred), -h puts on
 * hold (from incoming, active, deferred), -H releases from hold to the
 * deferred queue (due at once), -r requeues (hold, incoming, active,
 * deferred), -e force-expires (hold, incoming, active, deferred): the message
 * is marked (QueuedMessage.expired) and qmgr returns it to the sender when it
 * next takes it, without a delivery attempt -- a deferred message at its next
 * retry time, as Postfix does (postqueue -f to make that now); a held one
 * only once released. -f force-expires and releases from hold (due at once).
 * A message already force-expired is not counted again. A queue_id of "-" reads IDs from standard input; "ALL" (upper
 * case) means every message of the named queues. Each message done is
 * reported as Postfix logs it ("ID: removed", "ID: placed on hold", "ID:
 * released from hold", "ID: requeued", "ID: expired"), then the count of
 * each operation asked for ("Deleted: N messages", "Force-expired: N
 * messages", ...; 0 included, as Postfix), on standard error and in the maillog. An invalid ID gives
 * "warning: invalid mail queue id: ID"; an ID that is not in the named queues
 * is skipped silently, as Postfix does.
 *
 * Safety while the system runs: every change goes through the queue store,
 * whose updates are conditional on the message's version and atomic across
 * processes, so a message is never half moved or half deleted; a message that
 * another process changes or removes first is simply not counted.
 *
 * Requeue: Postfix renames the file to maildrop, where pickup(8) hands it to
 * cleanup(8) again. Postern does the same in one step: the message is first
 * moved to hold (out of qmgr's reach), its content is submitted to cleanup
 * with the original envelope (sender, undelivered recipients with their
 * original addresses and DSN, arrival time, client attributes) as a new
 * message, and the old one is deleted only when cleanup has queued the new
 * one; if cleanup refuses, the message goes back to its queue. This needs the
 * cleanup service (the running mail system).
 *
 * -s checks the queue structure and repairs it (the store's repair()); -p
 * purges temporary files, of which an LMDB queue has none (a commit writes a
 * whole message or nothing), so it reports nothing, as Postfix does when
 * there is nothing to purge. Without -d/-h/-H/-r, -s and -p are done.
 */
import { createInterface } from 'node:readline';
import {
  cleanupClient,
  isPosternError,
  isQueueId,
  isQueueName,
  processLogger,
  QUEUE,
  queueIdTime,
  type CleanupRequest,
  type ConfigView,
  type Logger,
  type QueuedMessage,
  type QueueName,
} from '@postern/core';
import { hasOpt, optValue } from '../getopt.js';
import type { CommandIo } from '../io.js';
import { CommandFatal, commandClients, commandQueueStore, EX, loadCommandConfig, parseArgs, runCommand, UsageError } from './queue.js';

const PROGRAM = 'postsuper';
const USAGE = 'postsuper [-psSv] [-c config_dir] [-d queue_id] [-e queue_id] [-f queue_id] [-h queue_id] [-H queue_id] [-r queue_id] [queue...]';

type Op = 'd' | 'e' | 'f' | 'h' | 'H' | 'r';

/** The queues each operation looks in by default, and may look in at all. */
const DEFAULT_QUEUES: Readonly<Record<Op, readonly QueueName[]>> = {
  d: [QUEUE.HOLD, QUEUE.INCOMING, QUEUE.ACTIVE, QUEUE.DEFERRED],
  e: [QUEUE.HOLD, QUEUE.INCOMING, QUEUE.ACTIVE, QUEUE.DEFERRED],
  f: [QUEUE.HOLD, QUEUE.INCOMING, QUEUE.ACTIVE, QUEUE.DEFERRED],
  h: [QUEUE.INCOMING, QUEUE.ACTIVE, QUEUE.DEFERRED],
  H: [QUEUE.HOLD],
  r: [QUEUE.HOLD, QUEUE.INCOMING, QUEUE.ACTIVE, QUEUE.DEFERRED],
};
const ALLOWED: Readonly<Record<Op, readonly QueueName[]>> = {
  d: [QUEUE.MAILDROP, QUEUE.HOLD, QUEUE.INCOMING, QUEUE.ACTIVE, QUEUE.DEFERRED, QUEUE.CORRUPT],
  e: [QUEUE.HOLD, QUEUE.INCOMING, QUEUE.ACTIVE, QUEUE.DEFERRED],
  f: [QUEUE.HOLD, QUEUE.INCOMING, QUEUE.ACTIVE, QUEUE.DEFERRED],
  h: [QUEUE.INCOMING, QUEUE.ACTIVE, QUEUE.DEFERRED],
  H: [QUEUE.HOLD],
  r: [QUEUE.HOLD, QUEUE.INCOMING, QUEUE.ACTIVE, QUEUE.DEFERRED],
};

/** What each count is called, in postsuper's report order; -f counts as e and H. */
type Count = 'r' | 'd' | 'e' | 'h' | 'H';
const COUNT_TEXT: Readonly<Record<Count, string>> = {
  r: 'Requeued',
  d: 'Deleted',
  e: 'Force-expired',
  h: 'Placed on hold',
  H: 'Released from hold',
};

interface Ctx {
  readonly io: CommandIo;
  readonly config: ConfigView;
  readonly store: ReturnType<typeof commandQueueStore>;
  readonly log: Logger;
  readonly verbose: boolean;
  readonly queues: readonly QueueName[] | undefined;
}

/** msg_info() of postsuper: standard error and the maillog. */
function info(c: Ctx, text: string): void {
  c.io.stderr.write(`${PROGRAM}: ${text}\n`);
  c.log.info(text);
}

function warn(c: Ctx, text: string): void {
  c.io.stderr.write(`${PROGRAM}: warning: ${text}\n`);
  c.log.warn(text);
}

function queuesFor(c: Ctx, op: Op): QueueName[] {
  const base = c.queues ?? DEFAULT_QUEUES[op];
  return base.filter((q) => ALLOWED[op].includes(q));
}

/** Requeues one message through cleanup; true when the new copy is queued and the old one removed. */
async function requeue(c: Ctx, msg: QueuedMessage): Promise<boolean> {
  const pending = msg.recipients.filter((r) => !r.done);
  if (pending.length === 0) return false;
  const original = msg.queue;
  if (original !== QUEUE.HOLD && !(await c.store.move(msg.id, QUEUE.HOLD))) return false;
  const putBack = async () => {
    if (original !== QUEUE.HOLD) await c.store.move(msg.id, original);
  };
  const request: CleanupRequest = {
    sender: msg.sender,
    recipients: pending.map((r) => ({
      address: r.address,
      ...(r.original !== undefined && { original: r.original }),
      ...(r.orcpt !== undefined && { orcpt: r.orcpt }),
      ...(r.notify !== undefined && { notify: r.notify }),
    })),
    origin: PROGRAM,
    arrivalTime: msg.arrivalTime,
    ...(msg.dsnRet && { dsnRet: msg.dsnRet }),
    ...(msg.dsnEnvid && { dsnEnvid: msg.dsnEnvid }),
    ...(msg.client && { client: msg.client }),
    ...(msg.sasl && { sasl: msg.sasl }),
    ...(msg.bodyType && { bodyType: msg.bodyType }),
    ...(msg.smtputf8 && { smtputf8: msg.smtputf8 }),
  };
  let result;
  try {
    result = await cleanupClient(commandClients(c.config)).submit(request, c.store.readContent(msg.id));
  } catch (err) {
    await putBack();
    if (isPosternError(err, 'POSTERN_ERR_IPC_CONNECT')) {
      throw new CommandFatal(`${msg.id}: cannot requeue: the cleanup service is not running (start the mail system first)`);
    }
    warn(c, `${msg.id}: requeue failed: ${(err as Error).message}`);
    return false;
  }
  if (result.status !== 'queued' && result.status !== 'discarded') {
    await putBack();
    warn(c, `${msg.id}: requeue failed: ${result.code} ${result.dsn} ${result.text}`);
    return false;
  }
  if (c.verbose) c.io.stderr.write(`${PROGRAM}: ${msg.id}: new queue id ${result.queueId}\n`);
  return c.store.delete(msg.id);
}

/** One operation on one message found in one of `allowed`; the counts it adds. */
async function operate(c: Ctx, op: Op, id: string, allowed: readonly QueueName[]): Promise<Count[]> {
  const msg = await c.store.get(id);
  if (!msg || !allowed.includes(msg.queue)) {
    if (c.verbose) c.io.stderr.write(`${PROGRAM}: ${id}: not found in ${allowed.join(', ')}\n`);
    return [];
  }
  switch (op) {
    case 'd':
      if (!(await c.store.delete(id))) return [];
      info(c, `${id}: removed`);
      return ['d'];
    case 'h':
      if (!(await c.store.move(id, QUEUE.HOLD))) return [];
      info(c, `${id}: placed on hold`);
      return ['h'];
    case 'H':
      if (!(await release(c, id))) return [];
      return ['H'];
    case 'e':
    case 'f': {
      const done: Count[] = [];
      // Already force-expired: not again (postexpire() refuses a file with the bit set).
      if (msg.expired === undefined && (await c.store.move(id, msg.queue, { expired: Date.now() }))) {
        info(c, `${id}: expired`);
        done.push('e');
      }
      if (op === 'f' && msg.queue === QUEUE.HOLD && queuesFor(c, 'H').includes(QUEUE.HOLD) && (await release(c, id))) done.push('H');
      return done;
    }
    default:
      if (!(await requeue(c, msg))) return [];
      info(c, `${id}: requeued`);
      return ['r'];
  }
}

async function release(c: Ctx, id: string): Promise<boolean> {
  if (!(await c.store.move(id, QUEUE.DEFERRED, { nextAttempt: Date.now() }))) return false;
  info(c, `${id}: released from hold`);
  return true;
}

async function operateOne(c: Ctx, op: Op, id: string): Promise<Count[]> {
  if (!isQueueId(id)) {
    warn(c, `invalid mail queue id: ${id}`);
    return [];
  }
  return operate(c, op, id, queuesFor(c, op));
}

async function operateAll(c: Ctx, op: Op): Promise<Count[]> {
  const done: Count[] = [];
  // A message this loop moves or deletes leaves the scanned queue, so the paged scan
  // does not see it twice; the new copies that requeue makes get IDs of a later time.
  const started = Date.now();
  for (const queue of queuesFor(c, op)) {
    for await (const msg of c.store.scan(queue)) {
      if (op === 'r' && (queueIdTime(msg.id) ?? 0) > started) continue;
      done.push(...(await operate(c, op, msg.id, [queue])));
    }
  }
  return done;
}

async function* stdinIds(io: CommandIo): AsyncGenerator<string> {
  const rl = createInterface({ input: io.stdin, crlfDelay: Infinity });
  for await (const line of rl) yield line;
}

/** `postern super ...` (postsuper(1)). */
export async function superCommand(argv: string[], io: CommandIo): Promise<number> {
  return runCommand(io, PROGRAM, USAGE, async () => {
    const p = parseArgs(argv, 'c:d:e:f:h:H:pr:sSv', io, PROGRAM);
    const queues: QueueName[] = [];
    for (const name of p.args) {
      if (!isQueueName(name)) throw new CommandFatal(`invalid directory name: ${name}`);
      queues.push(name);
    }
    const ops = p.opts.filter(([k]) => 'defhHr'.includes(k)) as [Op, string][];
    const structure = hasOpt(p, 's') || ops.length === 0;
    const purge = hasOpt(p, 'p') || ops.length === 0;
    const verbose = hasOpt(p, 'v');
    if (ops.some(([, v]) => typeof v !== 'string')) throw new UsageError();
    const config = await loadCommandConfig(optValue(p, 'c'), io);
    const store = commandQueueStore(config);
    const log = processLogger(config, PROGRAM, { verbose });
    const c: Ctx = { io, config, store, log, verbose, queues: queues.length > 0 ? queues : undefined };
    const counts: Record<Count, number> = { r: 0, d: 0, e: 0, h: 0, H: 0 };
    const add = (done: readonly Count[]) => done.forEach((k) => counts[k]++);
    try {
      if (structure) {
        // The Redis queue changes each message atomically in one script: it has no structure to repair.
        const report = store.repair ? await store.repair() : { problems: [], repaired: 0, messages: 0 };
        for (const problem of report.problems) warn(c, `${problem.queue ? `${problem.queue}/` : ''}${problem.id}: ${problem.detail}`);
        if (report.repaired > 0) info(c, `Repaired: ${report.repaired} problem${report.repaired === 1 ? '' : 's'} in ${report.messages} messages`);
        if (verbose) c.io.stderr.write(`${PROGRAM}: structure check: ${report.messages} message(s), ${report.problems.length} problem(s)\n`);
      }
      if (purge && verbose) {
        c.io.stderr.write(`${PROGRAM}: purge: no temporary files (a queue store commit writes a whole message or nothing)\n`);
      }
      let stdinUsed = false;
      for (const [op, value] of ops) {
        if (value === 'ALL') add(await operateAll(c, op));
        else if (value === '-') {
          if (stdinUsed) continue;
          stdinUsed = true;
          for await (const id of stdinIds(io)) if (id) add(await operateOne(c, op, id));
        } else add(await operateOne(c, op, value));
      }
    } finally {
      // Each count of an operation asked for, 0 included (-f asks for Force-expired and Released from hold).
      const asked = new Set<Count>(ops.flatMap(([op]): Count[] => (op === 'f' ? ['e', 'H'] : [op])));
      for (const k of ['r', 'd', 'e', 'h', 'H'] as const) {
        const n = counts[k];
        if (asked.has(k)) info(c, `${COUNT_TEXT[k]}: ${n} message${n === 1 ? '' : 's'}`);
      }
      await store.close();
    }
    return EX.OK;
  });
}
