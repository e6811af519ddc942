#!/usr/bin/env node
/** sendmail(1): also mailq and newaliases when installed (or linked) under those names. */
import { basename } from 'node:path';
import { processIo } from '../io.js';
import { sendmailCommand } from '../commands/sendmail.js';

sendmailCommand(process.argv.slice(2), processIo, basename(process.argv[1] ?? 'sendmail').replace(/\.js$/, '')).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`sendmail: fatal: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 75;
  },
);
