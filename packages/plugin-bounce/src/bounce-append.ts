/**
 * The append request (Postfix's bounce_append_service.c): one recipient's
 * (non-)delivery record added to a message's bounce, defer or trace log in
 * the queue store. Requests come over IPC, so the record is checked before
 * it is stored: a malformed request is a protocol error, never a log line.
 */
import { DELIVERY_LOG, posternError, type DeliveryLogName, type DeliveryLogRecord, type DsnNotify, type QueueStore } from '@postern/core';

const LOGS: readonly string[] = Object.values(DELIVERY_LOG);
const NOTIFY: readonly string[] = ['NEVER', 'SUCCESS', 'FAILURE', 'DELAY'] satisfies readonly DsnNotify[];
/** RFC 3463 status: class.subject.detail. */
const STATUS = /^[245]\.\d{1,3}\.\d{1,3}$/;

function bad(why: string): Error {
  return posternError('POSTERN_ERR_IPC_PROTOCOL', 'bounce', why);
}

const optionalString = (v: unknown) => v === undefined || typeof v === 'string';

/** Checks an append request's parts; throws POSTERN_ERR_IPC_PROTOCOL naming what is wrong. */
export function checkAppend(log: unknown, queueId: unknown, record: unknown): asserts record is DeliveryLogRecord {
  if (typeof log !== 'string' || !LOGS.includes(log)) throw bad(`unknown delivery log "${String(log)}"`);
  if (typeof queueId !== 'string' || queueId === '') throw bad('missing queue ID');
  if (record === null || typeof record !== 'object') throw bad(`${queueId}: missing ${log} log record`);
  const r = record as Record<string, unknown>;
  if (typeof r.recipient !== 'string') throw bad(`${queueId}: ${log} record without recipient`);
  if (typeof r.status !== 'string' || !STATUS.test(r.status)) throw bad(`${queueId}: bad status "${String(r.status)}"`);
  if (typeof r.action !== 'string' || r.action === '') throw bad(`${queueId}: ${log} record without action`);
  if (typeof r.reason !== 'string') throw bad(`${queueId}: ${log} record without reason`);
  if (typeof r.time !== 'number' || !Number.isFinite(r.time)) throw bad(`${queueId}: ${log} record without time`);
  for (const k of ['original', 'orcpt', 'diagnostic', 'remoteMta', 'relay'] as const) {
    if (!optionalString(r[k])) throw bad(`${queueId}: bad ${k} in ${log} record`);
  }
  if (r.notify !== undefined && (!Array.isArray(r.notify) || !r.notify.every((n) => NOTIFY.includes(n as string)))) {
    throw bad(`${queueId}: bad NOTIFY in ${log} record`);
  }
}

/** Appends `record` to the `log` log of message `queueId`. */
export async function bounceAppend(
  queue: QueueStore,
  log: DeliveryLogName,
  queueId: string,
  record: DeliveryLogRecord,
): Promise<void> {
  checkAppend(log, queueId, record);
  await queue.appendLog(log, queueId, record);
}
