/**
 * @postern/tables: Postfix's lookup table types (lmdb, texthash, regexp,
 * pcre, cidr, inline, static, unix, fail) and the postmap source parsers.
 * The registry and its type:name resolution are core's (TableRegistry).
 */
export { createTableRegistry, builtinTableTypes, plugin } from './builtin.js';
export type { BuiltinTableOptions } from './builtin.js';
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
  stripBraces,
} from './table-simple.js';
export { splitOutsideBraces, balancedLength, extractBraced } from './table-braces.js';
export { inlineToMultiline, openTableSource } from './table-stream.js';
export type { TableSource } from './table-stream.js';
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
