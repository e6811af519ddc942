import { token } from './token.js';

/** Value types of main.cf parameters, as postconf(5) describes them. */
export type ParameterType = 'string' | 'bool' | 'int' | 'time' | 'size' | 'list' | 'table';

/** A parameter a package owns: its Postfix name, built-in default and type. */
export interface ParameterSpec {
  readonly name: string;
  /** The built-in default, as postconf -d shows it (may contain $name). */
  readonly default: string;
  readonly type?: ParameterType;
  /** For time parameters: the unit a bare number means (postconf(5)); default s. */
  readonly unit?: 's' | 'm' | 'h' | 'd' | 'w';
  readonly description?: string;
}

/**
 * One process's view of the configuration: main.cf, then the -o overrides of
 * its master.cf entry, then the built-in defaults. Values are expanded at use.
 */
export interface ConfigView {
  readonly configDirectory: string;
  /** Expanded value ("" when the parameter is unknown or empty). */
  get(name: string): string;
  /** The value before $name expansion, or undefined if neither set nor declared. */
  raw(name: string): string | undefined;
  /** True when main.cf, a -o override or a package defines `name`. */
  has(name: string): boolean;
  /** True when main.cf or a -o override sets `name` explicitly. */
  isSet(name: string): boolean;
  bool(name: string): boolean;
  int(name: string): number;
  /** A time value in seconds ("1h", "30s", "2d"; a bare number in the parameter's unit). */
  time(name: string): number;
  /** A size in bytes. */
  size(name: string): number;
  /** A list value: split on commas and white space, empty items dropped. */
  list(name: string): string[];
  /** Expands `$name`, `${name}`, `${name?text}`, `${name:text}` in an arbitrary string. */
  expand(text: string, extra?: Readonly<Record<string, string>>): string;
}

export const CONFIG = token<ConfigView>('Config');
