/**
 * postern postalias - Postfix alias database maintenance (postalias(1)),
 * and newaliases (sendmail -bi).
 *
 * SYNOPSIS
 *   postalias [-Nfinoprsvw] [-c config_dir] [-d key] [-q key] [[type:]file...]
 *   newaliases
 *
 * DESCRIPTION
 *   postalias works like postmap (see map.ts) with aliases(5) input:
 *     name: value, value, ...
 *   with comments and continuation lines; names may be quoted ("a b": x).
 *   As postalias(1) does, the name is stored in internal (unquoted) form and
 *   folded to lowercase (unless -f); the value is stored in external form
 *   with normalized spacing after commas; lines without a name:value pair
 *   or with a non-local name (`@`, `%`) are skipped with a warning. The
 *   Sendmail compatibility entry `@` -> `@` is added, as Postfix does; the
 *   NIS entries YP_LAST_MODIFIED / YP_MASTER_NAME are not.
 *
 *   -s and `-q -` print `key:<TAB>value`, like postalias(1).
 *
 *   newaliases builds every table in $alias_database (the caller passes the
 *   expanded parameter value, default "hash:/etc/aliases", which builds
 *   /etc/aliases.lmdb).
 */
import { splitTableList } from '@postern/core';
import { POSTALIAS, runTableAdmin } from './map.js';
import type { CommandIo, MapCommandOptions } from './map.js';

/** postalias(1). */
export async function aliasCommand(argv: string[], io: CommandIo, options: MapCommandOptions): Promise<number> {
  return runTableAdmin(POSTALIAS, argv, io, options);
}

export interface NewaliasesOptions extends MapCommandOptions {
  /** The expanded value of $alias_database. */
  aliasDatabase: string;
}

/** newaliases: postalias for every table in $alias_database; 0 when all were built. */
export async function newaliasesCommand(
  argv: string[],
  io: CommandIo,
  options: NewaliasesOptions,
): Promise<number> {
  const tables = splitTableList(options.aliasDatabase);
  if (argv.length > 0) {
    io.stderr.write('newaliases: fatal: usage: newaliases\n');
    return 1;
  }
  let status = 0;
  for (const spec of tables) {
    const rc = await runTableAdmin(POSTALIAS, [spec], io, options);
    if (rc !== 0) status = rc;
  }
  return status;
}
