/**
 * NAME
 *   postern conf - Postern configuration utility (postconf(1))
 *
 * SYNOPSIS
 *   postern conf [-dhnx] [-c config_dir] [name ...]
 *   postern conf -e [-c config_dir] name=value ...
 *   postern conf -X [-c config_dir] name ...
 *   postern conf -M [-f] [-c config_dir] [service[/type] ...]
 *   postern conf -P [-c config_dir]
 *
 * DESCRIPTION
 *   Shows and edits main.cf and shows master.cf, with postconf(1)'s output:
 *
 *   (no option)  every known parameter as `name = value` (main.cf, else the
 *                built-in default), sorted; with names, those parameters.
 *   -n           only parameters set explicitly in main.cf.
 *   -d           built-in defaults instead of main.cf values.
 *   -h           values only, without `name = `.
 *   -x           expand $name in the values shown.
 *   -e           set name=value in main.cf in place: existing lines are
 *                rewritten, new ones appended, comments kept; the file is
 *                replaced atomically (temporary file, then rename).
 *   -X           remove the named parameters from main.cf.
 *   -M           list master.cf entries (optionally only service or
 *                service/type); -f folds long entries as postconf -Mf does.
 *   -P           list master.cf -o parameters as service/type/name = value.
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
 *
 * SECURITY
 *   -e and -X rewrite main.cf with the permissions of the existing file;
 *   run them as the owner of the configuration directory.
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
  formatMasterEntry,
  isPosternError,
  parseMainCf,
  parseMasterCf,
  referencedNames,
  type MainCf,
  type MasterCfEntry,
  type ParameterRegistry,
} from '@postern/core';

export interface ConfIo {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
  readonly env: NodeJS.ProcessEnv;
}

const PROGRAM = 'postconf';
const USAGE =
  'usage: postconf [-c config_dir] [-d (parameter defaults)] [-e (edit configuration)] [-f (fold lines)] ' +
  '[-h (no names)] [-M (master.cf)] [-n (non-default parameters)] [-P (master.cf parameters)] ' +
  '[-x (expand parameter values)] [-X (exclude)] [name...]';

interface Options {
  configDir?: string;
  defaults: boolean;
  edit: boolean;
  exclude: boolean;
  fold: boolean;
  noNames: boolean;
  master: boolean;
  masterParams: boolean;
  nonDefault: boolean;
  expand: boolean;
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

function parseArgs(argv: readonly string[]): Options {
  const o: Options = {
    defaults: false, edit: false, exclude: false, fold: false, noNames: false,
    master: false, masterParams: false, nonDefault: false, expand: false, names: [],
  };
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
      switch (c) {
        case 'c': {
          const rest = arg.slice(k + 1);
          const value = rest !== '' ? rest : argv[++i];
          if (value === undefined) throw new Fatal(`option requires an argument -- 'c'\n${USAGE}`);
          o.configDir = value;
          k = arg.length;
          break;
        }
        case 'd': o.defaults = true; break;
        case 'e': o.edit = true; break;
        case 'f': o.fold = true; break;
        case 'h': o.noNames = true; break;
        case 'M': o.master = true; break;
        case 'n': o.nonDefault = true; break;
        case 'P': o.masterParams = true; break;
        case 'x': o.expand = true; break;
        case 'X': o.exclude = true; break;
        default:
          throw new Fatal(`invalid option -- '${c}'\n${USAGE}`);
      }
    }
  }
  o.names = argv.slice(i);
  return o;
}

async function readText(file: string, purpose: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw new Fatal(`open ${file}${purpose}: ${errnoText(err)}`);
  }
}

async function writeAtomically(file: string, text: string): Promise<void> {
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

function line(name: string, value: string, noNames: boolean): string {
  if (noNames) return `${value}\n`;
  return value === '' ? `${name} =\n` : `${name} = ${value}\n`;
}

/** postconf(1) as `postern conf`: returns the exit status. */
export async function confCommand(argv: string[], io: ConfIo, registry: ParameterRegistry): Promise<number> {
  const warn = (text: string) => io.stderr.write(`${PROGRAM}: warning: ${text}\n`);
  try {
    const opts = parseArgs(argv);
    const configDir = opts.configDir ?? io.env['MAIL_CONFIG'] ?? registry.defaultValue('config_directory') ?? '/etc/postfix';
    const mainFile = join(configDir, 'main.cf');
    const masterFile = join(configDir, 'master.cf');

    if (opts.edit && opts.exclude) throw new Fatal('specify one of -e -X');
    if (opts.edit || opts.exclude) {
      if (opts.names.length === 0) throw new Fatal(opts.edit ? '-e requires name=value argument' : '-X requires parameter name argument');
      const set: Record<string, string> = {};
      const remove: string[] = [];
      for (const arg of opts.names) {
        if (opts.exclude) {
          remove.push(arg.trim());
          continue;
        }
        const eq = arg.indexOf('=');
        if (eq < 0) throw new Fatal(`missing '=' after attribute name: "${arg}"`);
        const name = arg.slice(0, eq).trim();
        if (name === '') throw new Fatal(`missing attribute name: "${arg}"`);
        set[name] = arg.slice(eq + 1).trim();
      }
      const text = await readText(mainFile, ' for reading');
      const result = editMainCfDetailed(text, { set, remove }, mainFile);
      for (const w of result.warnings) warn(w);
      if (result.text !== text) await writeAtomically(mainFile, result.text);
      return 0;
    }

    // master.cf gives the service names (per-transport parameters); -M and -P need it first.
    const masterNeeded = opts.master || opts.masterParams;
    let master: MasterCfEntry[] = [];
    const readMaster = async (): Promise<void> => {
      let text: string;
      try {
        text = await readFile(masterFile, 'utf8');
      } catch (err) {
        if (masterNeeded) throw new Fatal(`open ${masterFile}: ${errnoText(err)}`);
        warn(`open ${masterFile}: ${errnoText(err)}`);
        return;
      }
      master = parseMasterCf(text, masterFile);
    };
    if (masterNeeded) await readMaster();
    let main: MainCf | undefined;
    if (!opts.defaults || masterNeeded) {
      main = parseMainCf(await readText(mainFile, ''), mainFile);
      for (const w of main.warnings) warn(w);
    }
    if (!masterNeeded) await readMaster();
    registry.addServices(master);

    if (main !== undefined) for (const w of checkUnusedParameters(main, master, registry)) warn(w);

    if (opts.master) return listMaster(master, opts, io, warn);
    if (opts.masterParams) {
      for (const e of master) {
        for (const name of Object.keys(e.overrides).sort(byteOrder)) {
          io.stdout.write(line(`${e.name}/${e.type}/${name}`, e.overrides[name] as string, opts.noNames));
        }
      }
      return 0;
    }
    return showParameters(main, master, opts, configDir, io, registry, warn);
  } catch (err) {
    if (!(err instanceof Fatal) && !isPosternError(err)) throw err;
    const text = err instanceof Fatal ? err.message : describeError(err);
    const [first, ...rest] = text.split('\n');
    if (rest.length > 0) io.stderr.write(`${PROGRAM}: ${first}\n${rest.map((r) => `${PROGRAM}: fatal: ${r}`).join('\n')}\n`);
    else io.stderr.write(`${PROGRAM}: fatal: ${first}\n`);
    return 1;
  }
}

function listMaster(master: readonly MasterCfEntry[], opts: Options, io: ConfIo, warn: (t: string) => void): number {
  if (opts.names.length === 0) {
    for (const e of master) io.stdout.write(`${formatMasterEntry(e, { fold: opts.fold })}\n`);
    return 0;
  }
  const chosen = new Set<MasterCfEntry>();
  for (const request of opts.names) {
    const [name, type] = request.split('/');
    const hits = master.filter((e) => e.name === name && (type === undefined || type === '' || e.type === type));
    if (hits.length === 0) warn(`unmatched request: "${request}"`);
    for (const h of hits) chosen.add(h);
  }
  for (const e of master) if (chosen.has(e)) io.stdout.write(`${formatMasterEntry(e, { fold: opts.fold })}\n`);
  return 0;
}

function showParameters(
  main: MainCf | undefined,
  master: readonly MasterCfEntry[],
  opts: Options,
  configDir: string,
  io: ConfIo,
  registry: ParameterRegistry,
  warn: (t: string) => void,
): number {
  const set = new Map<string, string>();
  for (const p of main?.entries ?? []) set.set(p.name, p.value);
  // postconf -c marks config_directory as set explicitly.
  if (opts.configDir !== undefined && !set.has('config_directory')) set.set('config_directory', configDir);

  // User-defined parameters: set in main.cf and referenced as $name somewhere.
  const referenced = new Set<string>();
  for (const v of set.values()) for (const n of referencedNames(v)) referenced.add(n);
  for (const e of master) for (const v of Object.values(e.overrides)) for (const n of referencedNames(v)) referenced.add(n);
  const userDefined = (name: string) => set.has(name) && referenced.has(name);
  const known = (name: string) => registry.known(name) || userDefined(name);

  const rawOf = (name: string): string | undefined => {
    if (opts.defaults) return registry.defaultValue(name);
    return set.get(name) ?? registry.defaultValue(name);
  };
  const view = opts.defaults
    ? undefined
    : createConfigView({ mainCf: main, registry, configDirectory: configDir, runtime: { process_name: PROGRAM } });
  const valueOf = (name: string): string => {
    const raw = rawOf(name) ?? '';
    if (!opts.expand) return raw;
    if (view !== undefined) return view.expand(raw);
    return expandText(raw, (n) => registry.defaultValue(n));
  };

  let names: string[];
  if (opts.names.length > 0) {
    names = [];
    for (const name of opts.names) {
      if (!known(name)) warn(`${name}: unknown parameter`);
      else if (!opts.nonDefault || set.has(name)) names.push(name);
    }
  } else if (opts.nonDefault) {
    names = [...set.keys()].filter(known).sort(byteOrder);
  } else {
    const all = new Set(registry.names());
    if (!opts.defaults) for (const n of set.keys()) if (userDefined(n)) all.add(n);
    names = [...all].sort(byteOrder);
  }
  for (const name of names) io.stdout.write(line(name, valueOf(name), opts.noNames));
  return 0;
}

