import type { Logger } from './logger.js';
import { token } from './token.js';

/**
 * A lookup table (Postfix's DICT): `type:name` in main.cf. Lookups are async so
 * that remote tables (proxymap, a network database) fit the same contract.
 */
export interface LookupTable {
  /** "type:name" as configured. */
  readonly spec: string;
  readonly type: string;
  /**
   * Pattern tables (regexp, pcre, cidr, ...) are queried with the whole string
   * only; key tables also with the partial keys of mail_addr_find.
   */
  readonly pattern: boolean;
  lookup(key: string): Promise<string | undefined>;
  update?(key: string, value: string): Promise<void>;
  delete?(key: string): Promise<boolean>;
  /** All entries, for postmap -s. */
  entries?(): AsyncIterable<readonly [string, string]>;
  /**
   * Opens the table's files now rather than at the first lookup: a service
   * process opens the tables its parameters name before it drops privileges
   * (Postfix opens its maps in pre_init, as root), so a root-only table
   * (sasl_passwd, 0600) is read through the descriptor opened then.
   */
  open?(): Promise<void>;
  close?(): Promise<void>;
}

/** Opens tables by `type:name`; plugins may add types. */
export interface TableRegistry {
  open(spec: string): LookupTable;
  /** Opens every table in a parameter value ("hash:/a, regexp:/b"). */
  openList(value: string): LookupTable[];
  registerType(type: string, factory: TableFactory): void;
  types(): string[];
}

/**
 * Opens one table of a type: `name` is the part after "type:", `spec` the
 * resolved "type:name"; `log` is the registry's logger (for table warnings).
 * Packages declare their factories in PluginDefinition.tables.
 */
export type TableFactory = (name: string, spec: string, registry: TableRegistry, log?: Logger) => LookupTable;

export const TABLES = token<TableRegistry>('TableRegistry');
