/**
 * The delivery status filter (Postfix 3.0's dsn_filter.c, applied by
 * sent(), bounce_append() and defer_append() in the delivery agents that
 * ask for it): <agent>_delivery_status_filter, default
 * $default_delivery_status_filter, names zero or more lookup tables. Before
 * a recipient's status is logged and recorded, the tables are queried in
 * order with one line
 *
 *   enhanced-status-code SPACE explanatory-text      e.g. "5.1.1 user unknown"
 *
 * and the first match replaces code and text. The result must have the same
 * shape; a success (2.X.X) maps only to a success, a failure (4.X.X, 5.X.X)
 * only to a failure, whose class digit then decides: 4 defers (action
 * delayed), 5 bounces (action failed). Anything else, or an empty text, is
 * logged as Postfix does ("warning: smtp_delivery_status_filter: bad status
 * code: ...") and the original status stands, as it does when a table
 * cannot be opened or a lookup fails. The Diagnostic-Code and Remote-MTA
 * stay as they were. soft_bounce still applies after the filter (postconf(5):
 * the filter does not override that safety net).
 *
 * Used by smtp(8), lmtp(8), local(8), virtual(8) and pipe(8), as in Postfix;
 * not by error(8), discard(8) or the queue manager's own deferrals.
 */
import type { ConfigView } from '../contracts/config.js';
import type { RecipientResult } from '../contracts/delivery.js';
import type { Logger } from '../contracts/logger.js';
import type { LookupTable, TableRegistry } from '../contracts/table.js';
import { splitTableList } from '../tables/registry.js';

/** The parameter every agent's own filter parameter defaults to. */
export const DEFAULT_DELIVERY_STATUS_FILTER = 'default_delivery_status_filter';

/** The filter parameter of a delivery agent: `<agent>_delivery_status_filter`. */
export function deliveryStatusFilterParameter(agent: string): string {
  return `${agent}_delivery_status_filter`;
}

export interface DeliveryStatusFilter {
  /** The parameter the tables come from (the title of warnings). */
  readonly name: string;
  readonly tables: readonly LookupTable[];
}

/**
 * Opens the tables of parameter `name` (or of default_delivery_status_filter
 * when no installed package declares `name`). Undefined when the value is
 * empty. A table that cannot be opened is skipped with a warning: its
 * lookups would fail, and a failed lookup leaves the status unchanged.
 */
export function openDeliveryStatusFilter(
  config: ConfigView,
  tables: () => TableRegistry,
  name: string,
  log: Logger,
): DeliveryStatusFilter | undefined {
  const param = config.has(name) ? name : DEFAULT_DELIVERY_STATUS_FILTER;
  const specs = config.has(param) ? splitTableList(config.get(param)) : [];
  if (specs.length === 0) return undefined;
  const opened: LookupTable[] = [];
  for (const spec of specs) {
    try {
      opened.push(tables().open(spec));
    } catch (err) {
      log.warn(`${name}: ${spec}: ${(err as Error).message}; the table is not used`);
    }
  }
  return { name, tables: opened };
}

/** Postfix's dsn_valid(): an RFC 3463 code at the very start, followed by white space or the end. */
const DSN_AT_START = /^([245])\.\d{1,3}\.\d{1,3}(?=\s|$)/;

/** The first table's answer to `query`; undefined for no match or a failed lookup (logged). */
async function firstMatch(filter: DeliveryStatusFilter, query: string, log: Logger): Promise<string | undefined> {
  for (const table of filter.tables) {
    let value: string | undefined;
    try {
      value = await table.lookup(query);
    } catch (err) {
      log.warn(`${filter.name}: ${table.spec}: ${(err as Error).message}`);
      return undefined;
    }
    if (value !== undefined) return value;
  }
  return undefined;
}

/**
 * Postfix's dsn_filter_lookup(): `result` with the status code and text the
 * filter gives it, or `result` itself when no table matches or the match is
 * not a valid replacement.
 */
export async function filterDeliveryStatus(filter: DeliveryStatusFilter, result: RecipientResult, log: Logger): Promise<RecipientResult> {
  const query = `${result.dsn} ${result.reason}`;
  log.debug(`dsn_filter_lookup: ${query}`);
  const value = await firstMatch(filter, query, log);
  if (value === undefined) return result;
  const success = result.status === 'sent';
  const code = DSN_AT_START.exec(value);
  if (!code || (code[1] === '2') !== success) {
    log.warn(`${filter.name}: bad status code: ${value}`);
    return result;
  }
  const reason = value.slice(code[0].length).trimStart();
  if (reason === '') {
    log.warn(`${filter.name}: empty explanatory text: ${value}`);
    return result;
  }
  const dsn = code[0];
  switch (code[1]) {
    case '4':
      return { ...result, status: 'deferred', dsn, reason, action: 'delayed' };
    case '5':
      return { ...result, status: 'bounced', dsn, reason, action: 'failed' };
    default:
      return { ...result, dsn, reason };
  }
}
