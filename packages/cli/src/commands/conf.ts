/**
 * NAME
 *   postern conf - Postern configuration utility (postconf(1))
 *
 * SYNOPSIS
 *   postern conf [-dfhHnopvx] [-c config_dir] [-C class,...] [name ...]
 *   postern conf [-epv] [-c config_dir] name=value ...
 *   postern conf -# | -X [-pv] [-c config_dir] name ...
 *   postern conf -M [-fovx] [-c config_dir] [service[/type] ...]
 *   postern conf -M [-e] | -M# | -MX [-c config_dir] service/type[=value] ...
 *   postern conf -F [-fhHovx] [-c config_dir] [service[/type[/field]] ...]
 *   postern conf -F [-e] [-c config_dir] service/type/field=value ...
 *   postern conf -P [-fhHovx] [-c config_dir] [service[/type[/parameter]] ...]
 *   postern conf -P [-e] | -PX [-c config_dir] service/type/parameter[=value] ...
 *   postern conf -b | -t [-c config_dir] [template_file]
 *   postern conf -T mode [-c config_dir]
 *   postern conf -a | -A | -l | -m [-c config_dir]
 *
 * DESCRIPTION
 *   Shows and edits main.cf and master.cf, with postconf(1)'s output and
 *   its option rules (one major mode; the modifiers each mode accepts; "specify
 *   one of -d -n", "with option -M, do not specify -n"):
 *
 *   (no option), -p  every known parameter as `name = value` (main.cf, else
 *                the built-in default), sorted; with names, those parameters.
 *   -n           only parameters set explicitly in main.cf.
 *   -d           built-in defaults instead of main.cf values.
 *   -C class,... only builtin, service (service_suffix names of master.cf
 *                services), user (user-defined) parameters, or all.
 *   -h / -H      values only / names only.
 *   -x           expand $name in the values shown.
 *   -o name=value  override a main.cf setting for this command.
 *   -e           set name=value in main.cf in place (implied when the first
 *                argument has an `=`): existing lines are rewritten, new ones
 *                appended, comments kept; the file is replaced atomically.
 *   -X           remove the named parameters from main.cf.
 *   -#           comment out the named parameters (each of their lines).
 *   -M, -F, -P   master.cf entries, fields and -o parameters (conf-master.ts),
 *                shown, or edited with -e / -X / -#.
 *   -a -A -l -m -T -b -t   information modes (conf-info.ts).
 *   -f           fold long lines (-M, -n).
 *   -c dir       configuration directory; default $MAIL_CONFIG, else the
 *                built-in default of config_directory (/etc/postfix).
 *
 *   An unknown parameter name is reported as
 *   `postconf: warning: NAME: unknown parameter` and the exit status stays 0,
 *   like postconf. Warnings about main.cf (overridden entries, unused
 *   parameters, parameters no installed package supports) go to stderr.
 *
 * CONFIGURATION PARAMETERS
 *   config_directory (/etc/postfix)  where main.cf and master.cf are.
 *   bounce_template_file             the templates -b and -t show.
 *
 * SECURITY
 *   The edits rewrite main.cf or master.cf with the permissions of the
 *   existing file; run them as the owner of the configuration directory.
 */
import { randomBytes } from 'node:crypto';
import { chmod, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  byteOrder,
  checkUnusedParameters,
  createConfigView,
  describeError,
  editMainCfDetailed,
  expandText,
  isPosternError,
  parseMainCf,
  parseMasterCf,
  physicalLines,
  referencedNames,
  splitNameValue,
  type ConfigView,
  type MainCf,
  type MainCfItem,
  type MasterCfEntry,
  type ParameterRegistry,
} from '@postern/core';
import { CommandFatal } from './queue.js';
import { editMaster, MasterFatal, printLine, showEntries, showFields, showParams, type MasterShow } from './conf-master.js';
import { InfoFatal, LOCK_METHODS, saslTypes, showTemplates, tlsInfo } from './conf-info.js';

export interface ConfIo {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
  readonly env: NodeJS.ProcessEnv;
}

/** What postconf needs besides the parameter registry. */
export interface ConfExtras {
  /** The lookup table types (postconf -m). */
  readonly tableTypes?: () => string[];
}

const PROGRAM = 'postconf';
const USAGE =
  'usage: postconf [-a (server SASL types)] [-A (client SASL types)] [-b (bounce templates)] [-c config_dir] ' +
  '[-c param_class] [-d (parameter defaults)] [-e (edit configuration)] [-f (fold lines)] [-F (master.cf fields)] ' +
  '[-h (no names)] [-H (no values)] [-l (lock types)] [-m (map types)] [-M (master.cf)] [-n (non-default parameters)] ' +
  '[-o name=value (override parameter value)] [-p (main.cf, default)] [-P (master.cf parameters)] [-t (bounce templates)] ' +
  '[-T compile-version|run-version|public-key-algorithms] [-v (verbose)] [-x (expand parameter values)] [-X (exclude)] ' +
  '[-# (comment-out)] [name...]';

/** postconf's option letters in its own listing order (its messages name options in this order). */
const ORDER = 'aAbCdefFhHlmMnopPtTxX#';
/** The major modes: exactly one (-p when none is given). */
const MAJOR = 'aAbltmpMFPT';
/** Options that exclude each other: the major modes, then modifier conflicts. */
const EXCLUSIVE = [MAJOR, 'denX#', 'feX#', 'xeX#', 'odeX#', 'heX#H'];
/** The only modifiers each mode accepts. */
const COMPATIBLE: Readonly<Record<string, string>> = {
  a: '', A: '', b: '', l: '', m: '', T: '', t: '',
  p: 'eX#fhCxdnoH',
  M: 'eX#fox',
  F: 'efhoxH',
  P: 'eXfhoxH',
};

interface Options {
  configDir?: string;
  flags: Set<string>;
  classes?: Set<string>;
  overrides: [string, string][];
  tlsMode?: string;
  names: string[];
}

class Fatal extends Error {}

/** What strerror(3) says for the errno codes a configuration read meets. */
const STRERROR: Readonly<Record<string, string>> = {
  ENOENT: 'No such file or directory',
  EACCES: 'Permission denied',
  EISDIR: 'Is a directory',
  ENOTDIR: 'Not a directory',
  EPERM: 'Operation not permitted',
  EROFS: 'Read-only file system',
  ENOSPC: 'No space left on device',
};

function errnoText(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return (code !== undefined && STRERROR[code]) || (err instanceof Error ? err.message : String(err));
}

const names = (letters: Iterable<string>) => [...letters].sort((a, b) => ORDER.indexOf(a) - ORDER.indexOf(b)).map((c) => `-${c}`).join(' ');

function parseArgs(argv: readonly string[]): Options {
  const o: Options = { flags: new Set(), overrides: [], names: [] };
  const usage = (why: string) => new Fatal(`${why}\n${USAGE}`);
  let i = 0;
  for (; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') {
      i++;
      break;
    }
    if (!arg.startsWith('-') || arg === '-') break;
    for (let k = 1; k < arg.length; k++) {
      const c = arg[k] as string;
      if ('cCoT'.includes(c)) {
        const rest = arg.slice(k + 1);
        const value = rest !== '' ? rest : argv[++i];
        if (value === undefined) throw usage(`option requires an argument -- '${c}'`);
        k = arg.length;
        if (c === 'c') o.configDir = value;
        else if (c === 'C') {
          o.classes = new Set();
          for (const word of value.split(/[\s,]+/).filter(Boolean)) {
            const w = word.toLowerCase();
            if (!['builtin', 'service', 'user', 'all'].includes(w)) throw new Fatal(`unknown -C option value "${word}" in "${value}"`);
            if (w === 'all') ['builtin', 'service', 'user'].forEach((x) => o.classes!.add(x));
            else o.classes.add(w);
          }
        } else if (c === 'o') {
          o.flags.add('o');
          const kv = splitNameValue(value);
          if ('error' in kv) throw new Fatal(`invalid parameter override: ${value}: missing '=' after attribute name`);
          o.overrides.push([kv.name, kv.value]);
        } else {
          if (o.tlsMode !== undefined) throw new Fatal('At most one -T <mode> option may be specified');
          o.tlsMode = value;
          o.flags.add('T');
        }
        continue;
      }
      if (c === 'v') continue;
      if (!ORDER.includes(c) || c === 'C' || c === 'o') throw usage(`invalid option -- '${c}'`);
      if ((c === 'b' || c === 't') && (o.flags.has('b') || o.flags.has('t'))) throw new Fatal('specify one of -b and -t');
      o.flags.add(c);
    }
  }
  o.names = argv.slice(i);
  // Make the mode explicit, then check the combinations as postconf does.
  const f = o.flags;
  if (![...MAJOR].some((m) => f.has(m))) f.add('p');
  if ('pMFP'.split('').some((m) => f.has(m)) && o.names[0]?.includes('=')) f.add('e');
  for (const group of EXCLUSIVE) {
    const present = [...group].filter((c) => f.has(c));
    if (present.length > 1) throw new Fatal(`specify one of ${names(present)}`);
  }
  for (const [mode, allowed] of Object.entries(COMPATIBLE)) {
    if (!f.has(mode)) continue;
    const excess = [...f].filter((c) => c !== mode && !allowed.includes(c));
    if (excess.length > 0) throw new Fatal(`with option -${mode}, do not specify ${names(excess)}`);
  }
  if (f.has('e') && o.names.length === 0) throw new Fatal('-e requires name=value argument');
  return o;
}

async function readText(file: string, purpose: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw new Fatal(`open ${file}${purpose}: ${errnoText(err)}`);
  }
}

/** Replaces `file` with `text` through a temporary file, keeping its mode. */
export async function writeAtomically(file: string, text: string): Promise<void> {
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    const mode = (await stat(file)).mode & 0o7777;
    await writeFile(tmp, text, { mode, flag: 'wx' });
    await chmod(tmp, mode);
    await rename(tmp, file);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw new Fatal(`write ${file}: ${errnoText(err)}`);
  }
}

function line(name: string, value: string, opts: Options): string {
  if (opts.flags.has('H')) return `${name}\n`;
  return printLine(opts.flags.has('h') ? value : `${name} = ${value}`, opts.flags.has('f'));
}

/**
 * postconf -x on master.cf values: $name expanded with $service_name the
 * entry's name; a name no parameter has ($recipient, $nexthop of pipe(8))
 * is left as written, as postconf leaves it.
 */
function expandKnown(text: string, view: ConfigView, service: string): string {
  const keep = referencedNames(text).filter((n) => n !== 'service_name' && !view.has(n));
  let guarded = text;
  for (const n of keep) guarded = guarded.replace(new RegExp(`\\$(?=(\\{|\\()?${n}\\b)`, 'g'), '$$$$');
  return view.expand(guarded, { service_name: service });
}

/** postconf -# on main.cf: a `#` before each line of the named parameters. */
function commentOutMain(text: string, remove: ReadonlySet<string>): string {
  const lines = physicalLines(text);
  const main = parseMainCf(text);
  const ranges = main.entries.filter((e) => remove.has(e.name));
  for (const r of ranges) for (let i = r.line - 1; i < r.endLine; i++) lines[i] = `#${lines[i] as string}`;
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}

/** postconf(1) as `postern conf`: returns the exit status. */
export async function confCommand(argv: string[], io: ConfIo, registry: ParameterRegistry, extras: ConfExtras = {}): Promise<number> {
  const warn = (text: string) => io.stderr.write(`${PROGRAM}: warning: ${text}\n`);
  const out = (text: string) => io.stdout.write(text);
  try {
    const opts = parseArgs(argv);
    const f = opts.flags;
    const configDir = opts.configDir ?? io.env['MAIL_CONFIG'] ?? registry.defaultValue('config_directory') ?? '/etc/postfix';
    const mainFile = join(configDir, 'main.cf');
    const masterFile = join(configDir, 'master.cf');
    const editing = f.has('e') || f.has('X') || f.has('#');
    const masterMode = f.has('M') ? 'M' : f.has('F') ? 'F' : f.has('P') ? 'P' : undefined;

    if (f.has('m')) {
      for (const t of [...(extras.tableTypes?.() ?? [])].sort(byteOrder)) out(`${t}\n`);
      return 0;
    }
    if (f.has('l')) {
      for (const m of LOCK_METHODS) out(`${m}\n`);
      return 0;
    }
    if (f.has('a') || f.has('A')) {
      for (const t of saslTypes(f.has('a') ? 'server' : 'client', registry.known('smtpd_sasl_type'))) out(`${t}\n`);
      return 0;
    }
    if (f.has('T')) {
      const lines = tlsInfo(opts.tlsMode as string);
      if (lines === undefined) {
        warn(`unknown 'postconf -T' mode: ${opts.tlsMode as string}`);
        return 1;
      }
      for (const l of lines) out(`${l}\n`);
      return 0;
    }

    if (editing) {
      if (opts.names.length === 0) throw new Fatal('missing service argument');
      if (masterMode !== undefined) {
        const text = await readText(masterFile, ' for reading');
        const op = f.has('e') ? 'edit' : f.has('X') ? 'exclude' : 'comment';
        const result = editMaster(text, masterFile, masterMode, op, opts.names, warn);
        if (result !== text) await writeAtomically(masterFile, result);
        return 0;
      }
      const text = await readText(mainFile, ' for reading');
      if (f.has('#')) {
        const result = commentOutMain(text, new Set(opts.names.map((n) => n.trim())));
        if (result !== text) await writeAtomically(mainFile, result);
        return 0;
      }
      const set: Record<string, string> = {};
      const remove: string[] = [];
      for (const arg of opts.names) {
        if (f.has('X')) {
          remove.push(arg.trim());
          continue;
        }
        const eq = arg.indexOf('=');
        if (eq < 0) throw new Fatal(`missing '=' after attribute name: "${arg}"`);
        const name = arg.slice(0, eq).trim();
        if (name === '') throw new Fatal(`missing attribute name: "${arg}"`);
        set[name] = arg.slice(eq + 1).trim();
      }
      const result = editMainCfDetailed(text, { set, remove }, mainFile);
      for (const w of result.warnings) warn(w);
      if (result.text !== text) await writeAtomically(mainFile, result.text);
      return 0;
    }

    // master.cf gives the service names (per-transport parameters); -M, -F and -P need it first.
    let master: MasterCfEntry[] = [];
    const readMaster = async (): Promise<void> => {
      let text: string;
      try {
        text = await readFile(masterFile, 'utf8');
      } catch (err) {
        if (masterMode !== undefined) throw new Fatal(`open ${masterFile}: ${errnoText(err)}`);
        warn(`open ${masterFile}: ${errnoText(err)}`);
        return;
      }
      master = parseMasterCf(text, masterFile);
    };
    if (masterMode !== undefined) await readMaster();
    let main: MainCf | undefined;
    const bounceMode = f.has('b') || f.has('t');
    if (!f.has('d') || masterMode !== undefined || bounceMode) {
      main = parseMainCf(await readText(mainFile, ''), mainFile);
      if (!bounceMode) for (const w of main.warnings) warn(w);
    }
    const overrides: MainCfItem[] = opts.overrides.map(([name, value]) => ({ kind: 'param', name, value, file: '-o', line: 0, endLine: 0 }));
    const items = [...(main?.items ?? []), ...overrides];
    const view = createConfigView({ mainCf: items, registry, configDirectory: configDir, runtime: { process_name: PROGRAM } });

    if (bounceMode) {
      if (opts.names.length > 1) throw new Fatal('options -b and -t require at most one template file');
      await showTemplates(f.has('b') ? 'expand' : 'dump', opts.names[0], view, out, warn);
      return 0;
    }
    if (masterMode === undefined) await readMaster();
    registry.addServices(master);

    if (masterMode !== undefined) {
      const show: MasterShow = {
        fold: f.has('f'),
        noNames: f.has('h'),
        noValues: f.has('H'),
        ...(f.has('x') && { expand: (v: string, service: string) => expandKnown(v, view, service) }),
      };
      const fn = masterMode === 'M' ? showEntries : masterMode === 'F' ? showFields : showParams;
      fn(master, opts.names, show, out, warn);
      return 0;
    }
    const status = showParameters(main, overrides, master, opts, configDir, io, registry, warn);
    // After the listing, as postconf flags unused parameters (not with -d, nor with -M/-F/-P).
    if (main !== undefined && !f.has('d')) for (const w of checkUnusedParameters(main, master, registry)) warn(w);
    return status;
  } catch (err) {
    if (err instanceof MasterFatal || err instanceof InfoFatal || err instanceof CommandFatal) {
      io.stderr.write(`${PROGRAM}: fatal: ${err.message}\n`);
      return 1;
    }
    if (!(err instanceof Fatal) && !isPosternError(err)) throw err;
    const text = err instanceof Fatal ? err.message : describeError(err);
    const [first, ...rest] = text.split('\n');
    if (rest.length > 0) io.stderr.write(`${PROGRAM}: ${first}\n${rest.map((r) => `${PROGRAM}: fatal: ${r}`).join('\n')}\n`);
    else io.stderr.write(`${PROGRAM}: fatal: ${first}\n`);
    return 1;
  }
}

function showParameters(
  main: MainCf | undefined,
  overrides: readonly MainCfItem[],
  master: readonly MasterCfEntry[],
  opts: Options,
  configDir: string,
  io: ConfIo,
  registry: ParameterRegistry,
  warn: (t: string) => void,
): number {
  const defaults = opts.flags.has('d');
  const set = new Map<string, string>();
  for (const p of main?.entries ?? []) set.set(p.name, p.value);
  for (const p of overrides) if (p.kind === 'param') set.set(p.name, p.value);
  // postconf -c marks config_directory as set explicitly.
  if (opts.configDir !== undefined && !set.has('config_directory')) set.set('config_directory', configDir);

  // User-defined parameters: set in main.cf and referenced as $name somewhere.
  const referenced = new Set<string>();
  for (const v of set.values()) for (const n of referencedNames(v)) referenced.add(n);
  for (const e of master) for (const v of Object.values(e.overrides)) for (const n of referencedNames(v)) referenced.add(n);
  const userDefined = (name: string) => set.has(name) && referenced.has(name) && !registry.known(name);
  const known = (name: string) => registry.known(name) || userDefined(name);
  const classOf = (name: string): string => {
    if (userDefined(name)) return 'user';
    return (registry.lookup(name) as { service?: string } | undefined)?.service !== undefined ? 'service' : 'builtin';
  };
  const inClass = (name: string) => opts.classes === undefined || opts.classes.has(classOf(name));

  const rawOf = (name: string): string | undefined => {
    if (defaults) return registry.defaultValue(name);
    return set.get(name) ?? registry.defaultValue(name);
  };
  const view = defaults
    ? undefined
    : createConfigView({ mainCf: [...(main?.items ?? []), ...overrides], registry, configDirectory: configDir, runtime: { process_name: PROGRAM } });
  const valueOf = (name: string): string => {
    const raw = rawOf(name) ?? '';
    if (!opts.flags.has('x')) return raw;
    if (view !== undefined) return view.expand(raw);
    return expandText(raw, (n) => registry.defaultValue(n));
  };

  let shown: string[];
  if (opts.names.length > 0) {
    shown = [];
    for (const name of opts.names) {
      if (!known(name)) warn(`${name}: unknown parameter`);
      else if ((!opts.flags.has('n') || set.has(name)) && inClass(name)) shown.push(name);
    }
  } else if (opts.flags.has('n')) {
    shown = [...set.keys()].filter(known).filter(inClass).sort(byteOrder);
  } else {
    const all = new Set(registry.names());
    if (!defaults) for (const n of set.keys()) if (userDefined(n)) all.add(n);
    shown = [...all].filter(inClass).sort(byteOrder);
  }
  for (const name of shown) io.stdout.write(line(name, valueOf(name), opts));
  return 0;
}
