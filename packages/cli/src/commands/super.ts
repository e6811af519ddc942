/**
 * postsuper(1) as `postern super`: queue maintenance.
 *
 *   postern super [-psSv] [-c config_dir] [-d queue_id] [-h queue_id]
 *                 [-H queue_id] [-r queue_id] [queue ...]
 *
 * -d deletes (default queues hold, incoming, active, deferred), -h puts on
 * hold (from incoming, active, deferred), -H releases from hold to the
 * deferred queue (due at once), -r requeues (hold, incoming, active,
 * deferred). A queue_id of "-" reads IDs from standard input; "ALL" (upper
 * case) means every message of the named queues. Each message done is
 * reported as Postfix logs it ("ID: removed", "ID: placed on hold", "ID:
 * released from hold", "ID: requeued"), then the counts ("Deleted: N
 * messages", ...), on standard error and in the maillog. An invalid ID gives
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
const USAGE = 'postsuper [-psSv] [-c config_dir] [-d queue_id] [-h queue_id] [-H queue_id] [-r queue_id] [queue...]';

type Op = 'd' | 'h' | 'H' | 'r';

/** The queues each operation looks in by default, and may look in at all. */
const DEFAULT_QUEUES: Readonly<Record<Op, readonly QueueName[]>> = {
  d: [QUEUE.HOLD, QUEUE.INCOMING, QUEUE.ACTIVE, QUEUE.DEFERRED],
  h: [QUEUE.INCOMING, QUEUE.ACTIVE, QUEUE.DEFERRED],
  H: [QUEUE.HOLD],
  r: [QUEUE.HOLD, QUEUE.INCOMING, QUEUE.ACTIVE, QUEUE.DEFERRED],
};
const ALLOWED: Readonly<Record<Op, readonly QueueName[]>> = {
  d: [QUEUE.MAILDROP, QUEUE.HOLD, QUEUE.INCOMING, QUEUE.ACTIVE, QUEUE.DEFERRED, QUEUE.CORRUPT],
  h: [QUEUE.INCOMING, QUEUE.ACTIVE, QUEUE.DEFERRED],
  H: [QUEUE.HOLD],
  r: [QUEUE.HOLD, QUEUE.INCOMING, QUEUE.ACTIVE, QUEUE.DEFERRED],
};

const COUNT_TEXT: Readonly<Record<Op, string>> = {
  r: 'Requeued',
  d: 'Deleted',
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

/** One operation on one message; true when it was done. */
async function operate(c: Ctx, op: Op, id: string, allowed: readonly QueueName[]): Promise<boolean> {
  const msg = await c.store.get(id);
  if (!msg || !allowed.includes(msg.queue)) {
    if (c.verbose) c.io.stderr.write(`${PROGRAM}: ${id}: not found in ${allowed.join(', ')}\n`);
    return false;
  }
  switch (op) {
    case 'd':
      if (!(await c.store.delete(id))) return false;
      info(c, `${id}: removed`);
      return true;
    case 'h':
      if (!(await c.store.move(id, QUEUE.HOLD))) return false;
      info(c, `${id}: placed on hold`);
      return true;
    case 'H':
      if (!(await c.store.move(id, QUEUE.DEFERRED, { nextAttempt: Date.now() }))) return false;
      info(c, `${id}: released from hold`);
      return true;
    default:
      if (!(await requeue(c, msg))) return false;
      info(c, `${id}: requeued`);
      return true;
  }
}

async function operateOne(c: Ctx, op: Op, id: string): Promise<number> {
  if (!isQueueId(id)) {
    warn(c, `invalid mail queue id: ${id}`);
    return 0;
  }
  return (await operate(c, op, id, queuesFor(c, op))) ? 1 : 0;
}

async function operateAll(c: Ctx, op: Op): Promise<number> {
  let n = 0;
  // A message this loop moves or deletes leaves the scanned queue, so the paged scan
  // does not see it twice; the new copies that requeue makes get IDs of a later time.
  const started = Date.now();
  for (const queue of queuesFor(c, op)) {
    for await (const msg of c.store.scan(queue)) {
      if (op === 'r' && (queueIdTime(msg.id) ?? 0) > started) continue;
      if (await operate(c, op, msg.id, [queue])) n++;
    }
  }
  return n;
}

async function* stdinIds(io: CommandIo): AsyncGenerator<string> {
  const rl = createInterface({ input: io.stdin, crlfDelay: Infinity });
  for await (const line of rl) yield line;
}

/** `postern super ...` (postsuper(1)). */
export async function superCommand(argv: string[], io: CommandIo): Promise<number> {
  return runCommand(io, PROGRAM, USAGE, async () => {
    const p = parseArgs(argv, 'c:d:h:H:pr:sSv', io, PROGRAM);
    const queues: QueueName[] = [];
    for (const name of p.args) {
      if (!isQueueName(name)) throw new CommandFatal(`invalid directory name: ${name}`);
      queues.push(name);
    }
    const ops = p.opts.filter(([k]) => k === 'd' || k === 'h' || k === 'H' || k === 'r') as [Op, string][];
    const structure = hasOpt(p, 's') || ops.length === 0;
    const purge = hasOpt(p, 'p') || ops.length === 0;
    const verbose = hasOpt(p, 'v');
    if (ops.some(([, v]) => typeof v !== 'string')) throw new UsageError();
    const config = await loadCommandConfig(optValue(p, 'c'), io);
    const store = commandQueueStore(config);
    const log = processLogger(config, PROGRAM, { verbose });
    const c: Ctx = { io, config, store, log, verbose, queues: queues.length > 0 ? queues : undefined };
    const counts: Record<Op, number> = { d: 0, h: 0, H: 0, r: 0 };
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
        if (value === 'ALL') counts[op] += await operateAll(c, op);
        else if (value === '-') {
          if (stdinUsed) continue;
          stdinUsed = true;
          for await (const id of stdinIds(io)) if (id) counts[op] += await operateOne(c, op, id);
        } else counts[op] += await operateOne(c, op, value);
      }
    } finally {
      for (const op of ['r', 'd', 'h', 'H'] as const) {
        const n = counts[op];
        if (n > 0) info(c, `${COUNT_TEXT[op]}: ${n} message${n === 1 ? '' : 's'}`);
      }
      await store.close();
    }
    return EX.OK;
  });
}
