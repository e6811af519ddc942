/**
 * Lookup tables: the registry, the built-in table types, source file
 * parsers and the address lookup helpers (mail_addr_find and friends).
 * See packages/core/README-tables.md.
 */
export {
  createTableRegistry,
  resolveTableSpec,
  splitTableList,
  splitTableSpec,
  LMDB_ALIAS_TYPES,
} from './registry.js';
export type { TableRegistryOptions } from './registry.js';
export { LmdbTable, LMDB_SUFFIX } from './table-lmdb.js';
export { PatternTable, parsePatternTable, evalPatternRules } from './table-regexp.js';
export type { PatternRule, PatternSyntax } from './table-regexp.js';
export { compilePosix, compilePcre, posixToJs } from './regexp-translate.js';
export type { TranslatedRegExp } from './regexp-translate.js';
export { CidrTable, parseCidrTable, evalCidrRules, parseIp } from './table-cidr.js';
export type { CidrRule } from './table-cidr.js';
export {
  InlineTable,
  StaticTable,
  FailTable,
  TexthashTable,
  UnixTable,
  parseInline,
  splitOutsideBraces,
  stripBraces,
} from './table-simple.js';
export type { UnixFiles } from './table-simple.js';
export {
  logicalLines,
  parseMapSource,
  parseAliasSource,
  collectEntries,
  tableDiagnostic,
  reportDiagnostic,
} from './table-source.js';
export type {
  LogicalLine,
  SourceEntry,
  TableDiagnostic,
  DiagnosticHandler,
  DuplicatePolicy,
} from './table-source.js';
export * from '../mail/addr-find.js';
export * from '../mail/address.js';
export { tok822Scan, tok822Externalize, tok822Internalize, tok822SplitList } from '../mail/tok822.js';
export type { Tok822, Tok822Type } from '../mail/tok822.js';
