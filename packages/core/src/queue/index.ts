/**
 * The queue store (Postfix's queue directories and queue IDs).
 *
 * openQueueStore({ queueDirectory }) opens the LMDB environment
 * `<queue_directory>/queue.lmdb/` (a directory with data.mdb and lock.mdb),
 * creating it when needed; the mail system need not run (sendmail writes to
 * maildrop while it is stopped), and any number of processes may open it at
 * once. A writer's commit() resolves only after its transaction is synced to
 * disk; commits made at the same time in one process share one transaction.
 */
export { newQueueId, isQueueId, isLongQueueId, queueIdTime } from './queue-id.js';
export { openQueueStore } from './queue-store.js';
export type { LmdbQueueStore, QueueStoreOptions, WriterOptions, CommitListener } from './queue-store.js';
export type { QueueCheckReport, QueueProblem, QueueProblemKind } from './queue-check.js';
export { QUEUE_LMDB, CHUNK_SIZE } from './queue-lmdb.js';
export { MAILDROP_ORIGIN, postdrop, readMaildropRecord, type MaildropRecord, type MaildropSubmitter } from './maildrop.js';
export { MAILDROP_DIRECTORY, maildropDirectory, dropMaildropFile, importMaildropFiles } from './maildrop-dir.js';
