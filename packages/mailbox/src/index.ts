/**
 * Mailbox writing shared by the local(8) and virtual(8) delivery agents
 * (and pipe(8)'s message copy and command runner; postlock(1)'s locking):
 * mail_copy, mbox with locking and truncate-on-failure, Maildir, the
 * external command runner and the sysexits status mapping.
 */
export { asctime, fromLine, prependedLines, mailCopy, headerSection, deliveredToHeaders, MAILER_DAEMON } from './mail-copy.js';
export type { MailCopyOptions } from './mail-copy.js';
export { parseLockMethods, dotLock, kernelLock, lockMailbox, LockError, LOCK_HELPER_PERL, errnoText } from './mailbox-lock.js';
export type { LockMethod, LockOptions, HeldLock } from './mailbox-lock.js';
export { errnoDsn, failResult, sentResult } from './mailbox-status.js';
export type { MailboxResult } from './mailbox-status.js';
export { deliverMbox } from './mbox.js';
export type { MboxOptions } from './mbox.js';
export { deliverMaildir, maildirHostname, maildirTmpName } from './maildir.js';
export type { MaildirOptions } from './maildir.js';
export { deliverMailbox, deliverMailboxHere, isMaildir } from './mailbox-deliver.js';
export type { MailboxDeliveryOptions, MailboxWorkerRequest } from './mailbox-deliver.js';
export { runCommand, commandStatus, commandArgv, SYS_EXITS } from './command.js';
export type { CommandOptions, CommandOutcome } from './command.js';
