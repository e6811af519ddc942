#!/usr/bin/env node
/** mailq(1): sendmail -bp, the queue listing of postqueue -p. */
import { processIo } from '../io.js';
import { sendmailCommand } from '../commands/sendmail.js';

sendmailCommand(process.argv.slice(2), processIo, 'mailq').then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`mailq: fatal: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 75;
  },
);
