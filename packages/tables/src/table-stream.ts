/**
 * The source of a regexp:, pcre: or cidr: table (Postfix dict_stream): a
 * file, or (Postfix 3.7) the table's rules written inline in its name:
 *
 *   regexp:{ {/^[^A-Z]/ Bogus}, { /^(.*)@example\.com$/ $1 } }
 *
 *   inline-file = "{" *(*wsp-comma rule-spec) *wsp-comma "}"
 *   rule-spec   = "{" *wsp rule-text *wsp "}"
 *   rule-text   = any text with zero or more balanced {}
 *   wsp-comma   = whitespace | ","
 *
 * Each rule becomes one line of an in-memory file, without its braces and
 * the whitespace around it, and the table parses that text as it would a
 * file: so `if`/`endif` rules work, and warnings name the table
 * `regexp map {...}, line N` (N counts rules). A name that is not one
 * balanced group, or a rule not in braces, fails to open with Postfix's
 * reason, e.g. `regexp map: syntax error after '}' in "{...}x"`. An
 * inline table never changes; a file is re-read when it does (FileWatch).
 */
import { posternError } from '@postern/core';
import { extractBraced, splitOutsideBraces } from './table-braces.js';
import { FileWatch } from './file-watch.js';

/** The in-memory file for an inline table name; throws Error with extpar's message. */
export function inlineToMultiline(name: string): string {
  return splitOutsideBraces(extractBraced(name))
    .map((rule) => `${extractBraced(rule)}\n`)
    .join('');
}

/** A table's source text, loaded at open and refreshed before each lookup. */
export interface TableSource {
  refresh(): Promise<void>;
}

const INLINE_SOURCE: TableSource = { refresh: async () => undefined };

/**
 * Opens `name` (a file, or inline rules when it starts with `{`) and hands
 * its text to `load`; throws POSTERN_ERR_TABLE_OPEN when it cannot.
 */
export function openTableSource(type: string, spec: string, name: string, load: (text: string) => void): TableSource {
  if (!name.startsWith('{')) return new FileWatch(spec, name, load);
  let text: string;
  try {
    text = inlineToMultiline(name);
  } catch (err) {
    throw posternError('POSTERN_ERR_TABLE_OPEN', spec, `${type} map: ${(err as Error).message}`);
  }
  load(text);
  return INLINE_SOURCE;
}
