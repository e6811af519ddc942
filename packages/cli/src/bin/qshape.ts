#!/usr/bin/env node
/** qshape(1): the queue's domain and age distribution (postern qshape). */
import { processIo } from '../io.js';
import { qshapeCommand } from '../commands/qshape.js';

qshapeCommand(process.argv.slice(2), processIo).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`qshape: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
