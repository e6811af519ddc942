/**
 * The mailbox delivery process (see mailbox-deliver.ts): started with the
 * recipient's uid/gid, it reads one MailboxWorkerRequest (JSON, argv[2])
 * and the message (stdin), delivers it in this process and writes the
 * MailboxResult as JSON on stdout. It has no other entry and imports
 * nothing but the mailbox code.
 */
import { deliverMailboxHere, type MailboxWorkerRequest } from './mailbox-deliver.js';
import { failResult } from './mailbox-status.js';

async function run(): Promise<void> {
  let request: MailboxWorkerRequest;
  try {
    request = JSON.parse(process.argv[2] ?? '') as MailboxWorkerRequest;
  } catch {
    process.stdout.write(JSON.stringify(failResult('4.3.0', 'mailbox delivery process: bad request')));
    return;
  }
  const { date, ...copy } = request.copy;
  const result = await deliverMailboxHere(
    request.path,
    process.stdin as AsyncIterable<Buffer>,
    { ...copy, ...(date !== undefined && { date: new Date(date) }) },
    request.options,
  );
  process.stdout.write(JSON.stringify(result));
}

await run();
