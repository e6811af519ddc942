#!/usr/bin/env node
/** newaliases(1): sendmail -bi, postalias for every table in $alias_database. */
import { processIo } from '../io.js';
import { ADMIN_COMMANDS } from '../commands/admin.js';

ADMIN_COMMANDS['newaliases']!(process.argv.slice(2), processIo).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`newaliases: fatal: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 75;
  },
);
