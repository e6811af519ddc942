/**
 * A process's view of the configuration (ConfigView, contracts/config.ts).
 *
 * Where a value comes from, first match wins:
 *   1. read-only runtime values: process_name, process_id, service_name
 *      (and config_directory, which is always the directory actually read);
 *   2. the -o name=value overrides of the process's master.cf entry;
 *   3. main.cf (its last definition of the name);
 *   4. the built-in default of the package that declares the name
 *      (computed defaults such as mydomain follow the current configuration).
 *
 * `$name` references are expanded when a value is asked for (use time), in the
 * same namespace, so an override of myhostname changes $myhostname everywhere
 * in that process. A view never changes, so expanded values are cached.
 */
import { basename } from 'node:path';
import type { ConfigView } from '../contracts/config.js';
import type { MasterEntry } from '../contracts/service.js';
import { posternError } from '../errors.js';
import { expandText, referencedNames } from './expand.js';
import type { MainCf, MainCfItem, MainCfParam } from './maincf.js';
import { POSTFIX_PARAMETER_NAMES } from './postfix-names.js';
import { RUNTIME_PARAMETERS, type ParameterRegistry } from './params.js';

export interface RuntimeValues {
  readonly service_name?: string;
  readonly process_name?: string;
  readonly process_id?: string | number;
}

export interface ConfigViewOptions {
  /** main.cf, parsed (parseMainCf / loadMainCf), or its items. */
  readonly mainCf?: MainCf | readonly MainCfItem[];
  /** The -o overrides of the process's master.cf entry. */
  readonly overrides?: Readonly<Record<string, string>>;
  readonly registry: ParameterRegistry;
  readonly configDirectory: string;
  /** Read-only runtime values; process_id defaults to process.pid, process_name to the program's base name. */
  readonly runtime?: RuntimeValues;
  /** Called for each `$name` that refers to an unknown parameter (Postfix: "undefined parameter"). */
  readonly onUndefined?: (name: string) => void;
}

function paramsOf(mainCf: MainCf | readonly MainCfItem[] | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (mainCf === undefined) return out;
  const items: readonly MainCfItem[] = 'items' in mainCf ? mainCf.items : mainCf;
  for (const item of items) if (item.kind === 'param') out.set(item.name, item.value);
  return out;
}

/**
 * Splits a list value the way Postfix does: on commas and white space, empty
 * items dropped, with `{ ... }` kept together as one item (so
 * `inline:{ a=b, c=d }` and `check_policy_service { inet:host:port, timeout=10s }`'s
 * brace group stay whole).
 */
export function splitList(value: string): string[] {
  const items: string[] = [];
  let current = '';
  let depth = 0;
  for (const c of value) {
    if (depth === 0 && (c === ',' || c === ' ' || c === '\t' || c === '\n' || c === '\r')) {
      if (current !== '') items.push(current);
      current = '';
      continue;
    }
    if (c === '{') depth++;
    else if (c === '}' && depth > 0) depth--;
    current += c;
  }
  if (current !== '') items.push(current);
  return items;
}

const TIME_UNITS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

class View implements ConfigView {
  readonly configDirectory: string;
  private readonly main: Map<string, string>;
  private readonly overrides: Readonly<Record<string, string>>;
  private readonly runtime: Map<string, string>;
  private readonly registry: ParameterRegistry;
  private readonly cache = new Map<string, string>();
  private readonly onUndefined?: (name: string) => void;

  constructor(options: ConfigViewOptions) {
    this.configDirectory = options.configDirectory;
    this.main = paramsOf(options.mainCf);
    this.overrides = options.overrides ?? {};
    this.registry = options.registry;
    this.onUndefined = options.onUndefined;
    const rt = options.runtime ?? {};
    this.runtime = new Map([
      ['service_name', rt.service_name ?? ''],
      ['process_name', rt.process_name ?? basename(process.argv[1] ?? process.argv0)],
      ['process_id', String(rt.process_id ?? process.pid)],
      ['config_directory', options.configDirectory],
    ]);
  }

  private own(name: string): boolean {
    return Object.prototype.hasOwnProperty.call(this.overrides, name);
  }

  raw(name: string): string | undefined {
    if (this.runtime.has(name) && (RUNTIME_PARAMETERS.has(name) || name === 'config_directory')) return this.runtime.get(name);
    if (this.own(name)) return this.overrides[name];
    const set = this.main.get(name);
    if (set !== undefined) return set;
    return this.registry.defaultValue(name, (n) => this.get(n));
  }

  has(name: string): boolean {
    return this.isSet(name) || this.registry.known(name) || this.runtime.has(name);
  }

  isSet(name: string): boolean {
    return this.own(name) || this.main.has(name);
  }

  get(name: string): string {
    const hit = this.cache.get(name);
    if (hit !== undefined) return hit;
    const raw = this.raw(name);
    if (raw === undefined) return '';
    const value = expandText(raw, (n) => this.raw(n), { name, onUndefined: this.onUndefined });
    this.cache.set(name, value);
    return value;
  }

  private spec(name: string) {
    return this.registry.lookup(name)?.spec;
  }

  bool(name: string): boolean {
    const v = this.get(name).trim().toLowerCase();
    if (v === 'yes' || v === 'true') return true;
    if (v === 'no' || v === 'false') return false;
    throw posternError('POSTERN_ERR_CONFIG_VALUE', 'boolean', name, this.get(name));
  }

  int(name: string): number {
    const v = this.get(name).trim();
    if (!/^[-+]?\d+$/.test(v)) throw posternError('POSTERN_ERR_CONFIG_VALUE', 'integer', name, v);
    return Number(v);
  }

  time(name: string): number {
    const v = this.get(name).trim();
    const m = /^(\d+)([smhdw]?)$/i.exec(v);
    if (!m) throw posternError('POSTERN_ERR_CONFIG_VALUE', 'time', name, v);
    const unit = (m[2] === '' ? (this.spec(name)?.unit ?? 's') : (m[2] as string).toLowerCase()) as string;
    return Number(m[1]) * (TIME_UNITS[unit] as number);
  }

  size(name: string): number {
    const v = this.get(name).trim();
    if (!/^\d+$/.test(v)) throw posternError('POSTERN_ERR_CONFIG_VALUE', 'size', name, v);
    return Number(v);
  }

  list(name: string): string[] {
    return splitList(this.get(name));
  }

  expand(text: string, extra?: Readonly<Record<string, string>>): string {
    return expandText(text, (n) => this.raw(n), { extra, onUndefined: this.onUndefined });
  }
}

/** Makes a process's ConfigView (see the module header). */
export function createConfigView(options: ConfigViewOptions): ConfigView {
  return new View(options);
}

/**
 * Postfix's warnings about parameters nothing uses, one line each:
 *   `FILE: unused parameter: name=value`   a name neither Postfix nor Postern knows
 *   `FILE: parameter name=value: not supported by the installed Postern packages`
 *                                         a Postfix 3.7 parameter no installed package declares
 * Checked: main.cf entries and the -o overrides of master.cf entries. A name
 * referenced as `$name` in any main.cf value or -o value is user-defined, hence
 * used (postconf(5), "user-defined parameters"), and so is a name that
 * smtpd_restriction_classes lists; the per-transport S_suffix
 * names of the master.cf services are known.
 */
export function checkUnusedParameters(
  mainEntries: MainCf | readonly MainCfItem[],
  masterEntries: readonly MasterEntry[],
  registry: ParameterRegistry,
): string[] {
  const items: readonly MainCfItem[] = 'items' in mainEntries ? mainEntries.items : mainEntries;
  const params = items.filter((i): i is MainCfParam => i.kind === 'param');
  const last = new Map<string, MainCfParam>();
  for (const p of params) last.set(p.name, p);

  const referenced = new Set<string>();
  for (const p of params) for (const n of referencedNames(p.value)) referenced.add(n);
  for (const e of masterEntries) {
    for (const v of Object.values(e.overrides)) for (const n of referencedNames(v)) referenced.add(n);
  }
  // the names smtpd_restriction_classes lists are user-defined parameters too
  const classes = [last.get('smtpd_restriction_classes')?.value ?? '', ...masterEntries.map((e) => e.overrides['smtpd_restriction_classes'] ?? '')];
  for (const v of classes) for (const n of v.split(/[\s,]+/)) if (n) referenced.add(n);
  const services = masterEntries.map((e) => e.name);

  const verdict = (file: string, name: string, value: string): string | undefined => {
    if (registry.known(name) || registry.serviceParameter(name, services) !== undefined) return undefined;
    if (referenced.has(name) || RUNTIME_PARAMETERS.has(name)) return undefined;
    if (POSTFIX_PARAMETER_NAMES.has(name)) return `${file}: parameter ${name}=${value}: not supported by the installed Postern packages`;
    return `${file}: unused parameter: ${name}=${value}`;
  };

  const out: string[] = [];
  for (const p of last.values()) {
    const w = verdict(p.file, p.name, p.value);
    if (w !== undefined) out.push(w);
  }
  for (const e of masterEntries) {
    for (const [name, value] of Object.entries(e.overrides)) {
      const w = verdict(e.file, name, value);
      if (w !== undefined) out.push(w);
    }
  }
  return out;
}
