/**
 * master.cf parsing (master(5)) and inet service names.
 *
 * One logical line per service (comments, blank lines and white-space-led
 * continuation lines as in main.cf), eight fields:
 *
 *   service type private unpriv chroot wakeup maxproc command [args...]
 *
 *   type      inet, unix, unix-dgram, fifo or pass
 *   private   y/n, `-` = y
 *   unpriv    y/n, `-` = y
 *   chroot    y/n, `-` = n (the built-in default since Postfix 3.0)
 *   wakeup    seconds, `-` or 0 = never; a trailing `?` wakes only a used service
 *   maxproc   0 = unlimited, `-` = $default_process_limit
 *
 * Command options are read as the daemon's getopt reads them: up to the first
 * argument that is not an option. `-o name=value` (or `-oname=value`) overrides
 * a main.cf parameter; `-o { name = value with spaces }` (Postfix 3.0+) allows
 * white space. `-o name = value` is an error, as master(5) asks for no white
 * space around `=` outside braces. Other options (-v, -D, -S, ...) are flags.
 * `{ text }` anywhere groups one argument that contains white space.
 *
 * Unlike Postfix, which keeps the last of two entries with the same
 * service/type, Postern refuses duplicates (POSTERN_ERR_MASTER_DUPLICATE).
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ConfigView } from '../contracts/config.js';
import type { MasterEntry, ServiceType } from '../contracts/service.js';
import { posternError } from '../errors.js';
import { physicalLines } from './maincf.js';

/** A parsed master.cf entry: the MasterEntry contract plus what editing and listing need. */
export interface MasterCfEntry extends MasterEntry {
  /** The eight fields as written (`-` kept), for postconf -M. */
  readonly fields: readonly string[];
  /** The words after the command as written; a `{ ... }` group is kept as `{inner}` (inner trimmed). */
  readonly argv: readonly string[];
  /** True when maxproc is `-`: `maxproc` then holds the default_process_limit given to the parser. */
  readonly maxprocDefault: boolean;
  /** Last physical line of the entry. */
  readonly endLine: number;
}

export interface MasterCfOptions {
  /** What maxproc `-` stands for (default 100, Postfix's default_process_limit). */
  readonly defaultProcessLimit?: number;
}

export const SERVICE_TYPES: readonly ServiceType[] = ['inet', 'unix', 'unix-dgram', 'fifo', 'pass'];

/** Daemon options (Postfix's server getopt string "cdDi:lm:n:o:r:s:St:uvVz") that take a value. */
const OPTIONS_WITH_VALUE = new Set(['i', 'm', 'n', 'o', 'r', 's', 't']);

/** Splits a logical line into words; `{ ... }` groups (nesting allowed) stay one word. */
export function splitMasterWords(text: string): string[] | { error: string } {
  const words: string[] = [];
  let current = '';
  let depth = 0;
  for (const c of text) {
    if (depth === 0 && (c === ' ' || c === '\t')) {
      if (current !== '') words.push(current);
      current = '';
      continue;
    }
    if (c === '{') depth++;
    else if (c === '}') {
      if (depth === 0) return { error: `unexpected '}' in "${text}"` };
      depth--;
    }
    current += c;
  }
  if (depth > 0) return { error: `missing '}' in "${text}"` };
  if (current !== '') words.push(current);
  return words.map((w) => (isBraced(w) ? `{${w.slice(1, -1).trim()}}` : w));
}

/** True when the whole word is one `{ ... }` group. */
function isBraced(word: string): boolean {
  if (!word.startsWith('{') || !word.endsWith('}')) return false;
  let depth = 0;
  for (let i = 0; i < word.length; i++) {
    if (word[i] === '{') depth++;
    else if (word[i] === '}' && --depth === 0) return i === word.length - 1;
  }
  return false;
}

/** The text a daemon receives for a word: a `{ ... }` group without its braces. */
export function unbrace(word: string): string {
  return isBraced(word) ? word.slice(1, -1).trim() : word;
}

/** Parses one -o value: `name=value` or a braced `{ name = value }`. */
function parseOverride(word: string): { name: string; value: string } | { error: string } {
  const braced = isBraced(word);
  const text = unbrace(word);
  const eq = text.indexOf('=');
  if (eq < 0) return { error: `missing '=' after attribute name: "${text}" (use -o { name = value } for white space)` };
  const name = braced ? text.slice(0, eq).trim() : text.slice(0, eq);
  const value = braced ? text.slice(eq + 1).trim() : text.slice(eq + 1);
  if (name === '' || /\s/.test(name)) return { error: `missing attribute name: "${text}"` };
  return { name, value };
}

function yesNo(field: string, what: string, dflt: boolean, fail: (why: string) => never): boolean {
  if (field === '-') return dflt;
  if (field === 'y') return true;
  if (field === 'n') return false;
  return fail(`invalid ${what} field "${field}"`);
}

/** Parses master.cf text; `file` names the file in messages and in each entry. */
export function parseMasterCf(text: string, file = 'master.cf', options: MasterCfOptions = {}): MasterCfEntry[] {
  const limit = options.defaultProcessLimit ?? 100;
  const lines = physicalLines(text);
  const entries: MasterCfEntry[] = [];
  const seen = new Map<string, number>();
  const blank = (s: string) => s.trim() === '';
  const comment = (s: string) => s.trimStart().startsWith('#');
  const led = (s: string) => s[0] === ' ' || s[0] === '\t';

  let i = 0;
  while (i < lines.length) {
    const first = lines[i] as string;
    const lineNo = i + 1;
    if (blank(first) || comment(first) || led(first)) {
      // White-space-led text with nothing to continue is ignored, as Postfix does (with a warning there).
      i++;
      continue;
    }
    const pieces = [first.trim()];
    let end = i;
    for (let j = i + 1; j < lines.length; j++) {
      const next = lines[j] as string;
      if (blank(next) || comment(next)) continue;
      if (!led(next)) break;
      pieces.push(next.trim());
      end = j;
    }
    i = end + 1;
    const logical = pieces.join(' ');
    const fail = (why: string): never => {
      throw posternError('POSTERN_ERR_MASTER_SYNTAX', file, lineNo, why);
    };
    const words = splitMasterWords(logical);
    if (!Array.isArray(words)) return fail(words.error);
    if (words.length < 8) fail(`bad field count (${words.length} of at least 8) in "${logical}"`);
    const [name, type, priv, unpriv, chroot, wakeupField, maxprocField, command] = words as [string, string, string, string, string, string, string, string];
    if (!(SERVICE_TYPES as readonly string[]).includes(type)) fail(`invalid type field "${type}" in "${logical}"`);
    const wm = /^(\d+)(\?)?$/.exec(wakeupField);
    if (wakeupField !== '-' && !wm) fail(`invalid wakeup field "${wakeupField}" in "${logical}"`);
    if (maxprocField !== '-' && !/^\d+$/.test(maxprocField)) fail(`invalid process_limit field "${maxprocField}" in "${logical}"`);
    const argv = words.slice(8);

    // Options as the daemon's getopt sees them: up to the first non-option word.
    const overrides: Record<string, string> = {};
    const flags: string[] = [];
    let k = 0;
    for (; k < argv.length; k++) {
      const w = argv[k] as string;
      if (w === '--') {
        k++;
        break;
      }
      if (!w.startsWith('-') || w === '-') break;
      const letter = w[1] as string;
      if (letter === 'o') {
        const value = w.length > 2 ? w.slice(2) : argv[++k];
        if (value === undefined) fail(`-o without name=value in "${logical}"`);
        const kv = parseOverride(value as string);
        if ('error' in kv) return fail(kv.error);
        overrides[kv.name] = kv.value;
        continue;
      }
      flags.push(w);
      if (OPTIONS_WITH_VALUE.has(letter) && w.length === 2) {
        const value = argv[++k];
        if (value === undefined) fail(`option ${w} needs a value in "${logical}"`);
        flags.push(unbrace(value as string));
      }
    }
    const args = argv.slice(k).map(unbrace);

    const key = `${name}/${type}`;
    const earlier = seen.get(key);
    if (earlier !== undefined) throw posternError('POSTERN_ERR_MASTER_DUPLICATE', file, lineNo, name, type, earlier);
    seen.set(key, lineNo);

    entries.push({
      name,
      type: type as ServiceType,
      private: yesNo(priv, 'private', true, fail),
      unprivileged: yesNo(unpriv, 'unprivileged', true, fail),
      chroot: yesNo(chroot, 'chroot', false, fail),
      wakeup: wm ? Number(wm[1]) : 0,
      wakeupIfUsed: wm?.[2] === '?',
      maxproc: maxprocField === '-' ? limit : Number(maxprocField),
      maxprocDefault: maxprocField === '-',
      command,
      args,
      overrides,
      flags,
      fields: [name, type, priv, unpriv, chroot, wakeupField, maxprocField, command],
      argv,
      file,
      line: lineNo,
      endLine: end + 1,
    });
  }
  return entries;
}

/** Reads and parses `<configDirectory>/master.cf` (POSTERN_ERR_CONFIG_READ when it cannot be read). */
export async function loadMasterCf(configDirectory: string, options: MasterCfOptions = {}): Promise<MasterCfEntry[]> {
  const file = join(configDirectory, 'master.cf');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw posternError('POSTERN_ERR_CONFIG_READ', file, (err as Error).message, err);
  }
  return parseMasterCf(text, file, options);
}

/** An entry's process limit at use: its own maxproc, or the configuration's default_process_limit for `-`. */
export function effectiveProcessLimit(entry: MasterEntry & { readonly maxprocDefault?: boolean }, config: ConfigView): number {
  return entry.maxprocDefault === true ? config.int('default_process_limit') : entry.maxproc;
}

// ---------------------------------------------------------------------------
// inet service names

export interface InetService {
  /** The host part, brackets removed ("::1"); absent for `port` alone. */
  readonly host?: string;
  readonly port: number;
  /**
   * Addresses to listen on: [host] when given; otherwise the inet_interfaces
   * passed in ("all" or none given: [], meaning every address;
   * "loopback-only": 127.0.0.1 and ::1).
   */
  readonly hosts: readonly string[];
}

export interface InetServiceOptions {
  /** known_tcp_ports (default Postfix's "lmtp=24, smtp=25, smtps=submissions=465, submission=587"); qmqp=628 is always implied. */
  readonly knownTcpPorts?: string;
  /** The services(5) file (default /etc/services). */
  readonly servicesFile?: string;
}

const DEFAULT_KNOWN_TCP_PORTS = 'lmtp=24, smtp=25, smtps=submissions=465, submission=587';

/** Used when the services file is missing: the ports a mail system names. */
const BUILTIN_SERVICES: Readonly<Record<string, number>> = {
  smtp: 25, submission: 587, submissions: 465, smtps: 465, lmtp: 24, qmqp: 628, pop3: 110, imap: 143, imaps: 993, pop3s: 995, domain: 53, http: 80, https: 443,
};

const servicesCache = new Map<string, Map<string, number> | undefined>();

function servicesTable(file: string): Map<string, number> | undefined {
  if (servicesCache.has(file)) return servicesCache.get(file);
  let table: Map<string, number> | undefined;
  try {
    table = new Map();
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      const words = (line.split('#')[0] as string).trim().split(/\s+/);
      const m = /^(\d+)\/tcp$/i.exec(words[1] ?? '');
      if (!m) continue;
      for (const n of [words[0] as string, ...words.slice(2)]) if (!table.has(n)) table.set(n, Number(m[1]));
    }
  } catch {
    table = undefined;
  }
  servicesCache.set(file, table);
  return table;
}

function knownPorts(spec: string): Map<string, number> {
  const out = new Map<string, number>([['qmqp', 628]]);
  for (const group of spec.split(/[\s,]+/)) {
    if (group === '') continue;
    const parts = group.split('=');
    const port = Number(parts[parts.length - 1]);
    if (!/^\d+$/.test(parts[parts.length - 1] as string)) continue;
    for (const n of parts.slice(0, -1)) out.set(n, port);
  }
  return out;
}

/** Resolves a port: a number, a known_tcp_ports name, or a services(5) name. */
export function resolvePort(port: string, service: string, options: InetServiceOptions = {}): number {
  if (/^\d+$/.test(port)) {
    const n = Number(port);
    if (n > 65535) throw posternError('POSTERN_ERR_SERVICE_NAME', service, port);
    return n;
  }
  const known = knownPorts(options.knownTcpPorts ?? DEFAULT_KNOWN_TCP_PORTS).get(port);
  if (known !== undefined) return known;
  const table = servicesTable(options.servicesFile ?? '/etc/services');
  const found = table === undefined ? BUILTIN_SERVICES[port] : table.get(port);
  if (found === undefined) throw posternError('POSTERN_ERR_SERVICE_NAME', service, port);
  return found;
}

function interfaceHosts(inetInterfaces: string | undefined): string[] {
  if (inetInterfaces === undefined) return [];
  const list = inetInterfaces.split(/[\s,]+/).filter((w) => w !== '');
  if (list.length === 0 || list.includes('all')) return [];
  if (list.length === 1 && list[0] === 'loopback-only') return ['127.0.0.1', '::1'];
  return list.map((h) => (h.startsWith('[') && h.endsWith(']') ? h.slice(1, -1) : h));
}

/**
 * Parses an inet service name: `port`, `host:port`, `[ipv6]:port`, where port
 * is a number or a name (known_tcp_ports, then /etc/services, then a built-in
 * list when that file is missing). POSTERN_ERR_SERVICE_NAME otherwise.
 */
export function parseInetService(name: string, inetInterfaces?: string, options: InetServiceOptions = {}): InetService {
  let host: string | undefined;
  let port: string;
  const v6 = /^\[([^\]]*)\]:([^:]+)$/.exec(name);
  if (v6) {
    host = v6[1] as string;
    port = v6[2] as string;
    if (host === '' || !host.includes(':')) throw posternError('POSTERN_ERR_SERVICE_NAME', name, name);
  } else if (name.startsWith('[')) {
    throw posternError('POSTERN_ERR_SERVICE_NAME', name, name);
  } else {
    const colon = name.lastIndexOf(':');
    if (colon >= 0) {
      host = name.slice(0, colon);
      port = name.slice(colon + 1);
      if (host.includes(':')) throw posternError('POSTERN_ERR_SERVICE_NAME', name, name);
      if (host === '' || host === '*') host = undefined;
    } else port = name;
  }
  if (port === '' || !/^[\w.+-]+$/.test(port)) throw posternError('POSTERN_ERR_SERVICE_NAME', name, port);
  const number = resolvePort(port, name, options);
  const hosts = host !== undefined ? [host] : interfaceHosts(inetInterfaces);
  return host !== undefined ? { host, port: number, hosts } : { port: number, hosts };
}
