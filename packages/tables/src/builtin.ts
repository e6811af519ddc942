/**
 * Postfix's built-in lookup table types, declared to core through this
 * package's plugin declaration (PluginDefinition.tables):
 *
 *   lmdb      indexed file NAME.lmdb built by postmap (table-lmdb.ts)
 *   texthash  postmap input file read into memory
 *   regexp    POSIX regular expressions (regexp_table(5)); a file or regexp:{ {rule}, ... }
 *   pcre      Perl-compatible regular expressions (pcre_table(5)); a file or pcre:{ {rule}, ... }
 *   cidr      IPv4/IPv6 networks (cidr_table(5)); a file or cidr:{ {rule}, ... }
 *   inline    inline:{ key=value, ... }
 *   static    static:value, static:{ text }
 *   unix      unix:passwd.byname, unix:group.byname
 *   fail      every lookup fails (tests)
 *
 * This package is a library, not a master.cf plugin: it provides no command.
 */
import { definePlugin, newTableRegistry, type Logger, type TableFactory, type TableRegistry } from '@postern/core';
import { CidrTable } from './table-cidr.js';
import { LmdbTable } from './table-lmdb.js';
import { PatternTable } from './table-regexp.js';
import { FailTable, InlineTable, StaticTable, TexthashTable, UnixTable } from './table-simple.js';
import type { UnixFiles } from './table-simple.js';

export interface BuiltinTableOptions {
  log?: Logger;
  /** Alternative passwd/group files for unix: tables (tests). */
  unixFiles?: UnixFiles;
}

/** type -> factory for Postfix's built-in types. */
export function builtinTableTypes(options: { unixFiles?: UnixFiles } = {}): Record<string, TableFactory> {
  return {
    lmdb: (name, spec) => new LmdbTable(name, spec),
    texthash: (name, spec, _r, log) => new TexthashTable(name, spec, log),
    regexp: (name, spec, _r, log) => new PatternTable('regexp', name, spec, log),
    pcre: (name, spec, _r, log) => new PatternTable('pcre', name, spec, log),
    cidr: (name, spec, _r, log) => new CidrTable(name, spec, log),
    inline: (name, spec) => new InlineTable(name, spec),
    static: (name, spec) => new StaticTable(name, spec),
    unix: (name, spec) => new UnixTable(name, spec, options.unixFiles),
    fail: (name, spec) => new FailTable(name, spec),
  };
}

/** A registry with the built-in types only (commands and tests that need no other package's types). */
export function createTableRegistry(options: BuiltinTableOptions = {}): TableRegistry {
  return newTableRegistry({ log: options.log, types: builtinTableTypes(options) });
}

export const plugin = definePlugin({
  name: '@postern/tables',
  version: '0.1.0',
  core: '^0.1.0',
  commands: {},
  tables: builtinTableTypes(),
});
