/**
 * postern postmap - Postfix lookup table management (postmap(1)).
 *
 * SYNOPSIS
 *   postmap [-Nfinoprsuvw] [-c config_dir] [-d key] [-q key] [[type:]file...]
 *
 * DESCRIPTION
 *   Without -d, -q or -s, builds the indexed table for each `type:file` from
 *   the text file `file` (postmap input format: `key whitespace value`,
 *   comments, continuation lines). Postern's indexed type is lmdb: the
 *   result is `file.lmdb`. hash:, btree:, dbm:, sdbm: and cdb: build the
 *   lmdb table (with a notice), so commands written for Postfix work. The
 *   rebuild replaces the whole contents in one LMDB write transaction:
 *   running services see either the old or the new table, never a mix.
 *   When no type is given, the default_database_type (here: `defaultType`)
 *   is used.
 *
 *   -q key   print the first value found in the named tables; exit 0 when
 *            found, 1 when not. `-q -` reads keys from stdin and prints
 *            `key<TAB>value` for each key found (exit 0 when any was found).
 *   -s       print every `key<TAB>value` of the first table.
 *   -d key   delete key from each table (exit 0 when found); `-d -` reads
 *            keys from stdin.
 *   -i       incremental: add entries read from stdin to an existing (or new)
 *            table instead of rebuilding it from the file.
 *   -f       do not fold keys to lowercase when building; the table records
 *            this and its lookups are then case-sensitive. (On queries the
 *            table's own setting governs.)
 *   -r       replace duplicate entries silently (last one wins).
 *   -w       ignore duplicate entries silently (first one wins).
 *            By default duplicates are skipped with
 *            `postmap: warning: FILE, line N: duplicate entry: "key"`.
 *   -p       create the table with mode 0644 instead of inheriting the
 *            source file's group/other read permissions.
 *   -b, -h   with `-q -`: stdin is a message; its body lines (-b) and
 *            logical header lines (-h) are the keys, as body_checks and
 *            header_checks see them; -m adds MIME parsing (map-query.ts).
 *            Each key found prints `key<TAB>value`.
 *   -F       building: each value names files whose contents are stored
 *            base64-encoded; querying (-q, -s): values are base64-decoded.
 *   -N, -n   accepted; null-terminated keys are a dbm/db detail that is
 *            meaningless for lmdb tables.
 *   -o, -u, -U, -v, -c dir   accepted; privileges, UTF-8 checks, verbosity
 *            and the configuration directory are handled by the postern CLI.
 *
 * DIAGNOSTICS
 *   Problems go to stderr as `postmap: warning: ...` / `postmap: fatal: ...`;
 *   fatal errors exit 1.
 */
import { getopt } from '../getopt.js';
import { chmodSync, readFileSync, statSync } from 'node:fs';
import { LmdbTable, collectEntries, parseAliasSource, parseMapSource } from '@postern/tables';
import { describeError, resolveTableSpec } from '@postern/core';
import type { LookupTable, TableRegistry } from '@postern/core';
import type { SourceEntry, TableDiagnostic } from '@postern/tables';
import { decodeValue, encodeFiles, messageKeys } from './map-query.js';

export interface CommandIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  stdin: NodeJS.ReadableStream;
  env: NodeJS.ProcessEnv;
}

export interface MapCommandOptions {
  registry: TableRegistry;
  /** default_database_type: "lmdb" in Postern ("hash" etc. map to lmdb). */
  defaultType: string;
}

/** How postmap and postalias differ. */
export interface TableAdminFlavor {
  readonly program: 'postmap' | 'postalias';
  readonly usage: string;
  readonly optionLetters: string;
  readonly parse: (text: string, file: string, onDiagnostic: (d: TableDiagnostic) => void) => SourceEntry[];
  /** Output separator between key and value for -s and `-q -`. */
  readonly separator: string;
  /** Extra entries stored after the input (postalias: the `@` sentinel). */
  readonly trailer: readonly (readonly [string, string])[];
}

export const POSTMAP: TableAdminFlavor = {
  program: 'postmap',
  usage: 'usage: postmap [-bfFhimnNoprsuUvw] [-c config_dir] [-d key] [-q key] [map_type:]file...',
  optionLetters: 'bc:d:fFhimnNopq:rsuUvw',
  parse: parseMapSource,
  separator: '\t',
  trailer: [],
};

export const POSTALIAS: TableAdminFlavor = {
  program: 'postalias',
  usage: 'usage: postalias [-Nfinoprsvw] [-c config_dir] [-d key] [-q key] [map_type:]file...',
  optionLetters: 'Nc:d:finopq:rsvw',
  parse: parseAliasSource,
  separator: ':\t',
  trailer: [['@', '@']],
};

class Fatal extends Error {}

interface Parsed {
  flags: Set<string>;
  query?: string;
  delkey?: string;
  args: string[];
}

/** postmap's options (getopt), with its rule that -s, -q and -d exclude each other. */
function parseOptions(argv: readonly string[], letters: string, fatal: (msg: string) => never, usage: string): Parsed {
  let p;
  try {
    p = getopt(argv, letters);
  } catch {
    fatal(usage);
  }
  const parsed: Parsed = { flags: new Set(), args: p.args };
  for (const [ch, value] of p.opts) {
    if (ch === 'q' || ch === 'd') {
      if (parsed.query !== undefined || parsed.delkey !== undefined || parsed.flags.has('s')) fatal('specify only one of -s -q or -d');
      if (ch === 'q') parsed.query = value as string;
      else parsed.delkey = value as string;
    } else if (ch === 's' && (parsed.query !== undefined || parsed.delkey !== undefined)) fatal('specify only one of -s or -q or -d');
    else if (value === true) parsed.flags.add(ch);
  }
  return parsed;
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

function stdinLines(text: string): string[] {
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines.map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
}

/** Runs postmap or postalias with `argv` (options and arguments, without the program name). */
export async function runTableAdmin(
  flavor: TableAdminFlavor,
  argv: string[],
  io: CommandIo,
  options: MapCommandOptions,
): Promise<number> {
  const { program } = flavor;
  const write = (stream: NodeJS.WritableStream, text: string): void => {
    stream.write(text);
  };
  const warn = (text: string): void => write(io.stderr, `${program}: warning: ${text}\n`);
  const fatal = (text: string): never => {
    throw new Fatal(text);
  };
  const noticed = new Set<string>();

  try {
    const opts = parseOptions(argv, flavor.optionLetters, fatal, flavor.usage);
    const modes = { header: opts.flags.has('h'), body: opts.flags.has('b'), mime: opts.flags.has('m') };
    if ((modes.header || modes.body || modes.mime) && opts.query !== '-') fatal('specify -b -h or -m only with "-q -"');
    if (modes.mime && !modes.header && !modes.body) warn('ignoring -m option without -b or -h');
    const base64 = opts.flags.has('F');
    /** -F: the decoded value; a value that is not base64 is Postfix's warning, then fatal. */
    const shown = (spec: string, key: string, value: string): string => {
      if (!base64) return value;
      const decoded = decodeValue(value);
      if (decoded === undefined) {
        // Postfix names an indexed table by its file (hash:x.db); Postern's is x.lmdb.
        const name = spec.startsWith('lmdb:') ? `${spec}.lmdb` : spec;
        warn(`table ${name}: key ${key}: malformed BASE64 value: ${value}`);
        fatal(`table ${name}: query error`);
      }
      return decoded!;
    };
    /** -F building: each value replaced by the base64 of the files it names. */
    const encoded = (entries: SourceEntry[], file: string, onDiagnostic: (d: TableDiagnostic) => void): SourceEntry[] => {
      if (!base64) return entries;
      const out: SourceEntry[] = [];
      for (const e of entries) {
        const r = encodeFiles(e.value);
        if ('error' in r) {
          const message = `${r.error}: skipping this entry`;
          onDiagnostic({ file, line: e.line, message, text: `${file}, line ${e.line}: ${message}` });
        } else out.push({ ...e, value: r.value });
      }
      return out;
    };
    const fold = !opts.flags.has('f');
    const duplicates = opts.flags.has('r') ? 'replace' : opts.flags.has('w') ? 'ignore' : 'warn';
    if (opts.args.length === 0) fatal(flavor.usage);

    /** "type:name" with the default type applied and compatibility prefixes noted. */
    const specOf = (arg: string): { spec: string; type: string; name: string; proxied: boolean } => {
      const withType = arg.includes(':') ? arg : `${options.defaultType}:${arg}`;
      const resolved = resolveTableSpec(withType);
      if (!resolved) fatal(`need dictionary_type:dictionary_name format: ${arg}`);
      const r = resolved!;
      if (r.aliasOf && !noticed.has(r.aliasOf)) {
        noticed.add(r.aliasOf);
        write(io.stderr, `${program}: notice: ${r.aliasOf}:${r.name}: using lmdb:${r.name} (Postern's indexed table type)\n`);
      }
      return { spec: `${r.type}:${r.name}`, type: r.type, name: r.name, proxied: withType.startsWith('proxy:') };
    };
    const open = (spec: string): LookupTable => options.registry.open(spec);
    const lmdbFor = (arg: string, operation: string): { table: LmdbTable; name: string } => {
      const s = specOf(arg);
      if (s.proxied && operation === 'create') fatal("can't create maps via the proxy service");
      if (s.type !== 'lmdb') fatal(`unsupported dictionary type for this operation: ${s.type} (${operation})`);
      const table = open(s.spec);
      if (!(table instanceof LmdbTable)) fatal(`table ${s.spec} cannot be updated`);
      return { table: table as LmdbTable, name: s.name };
    };

    if (opts.delkey !== undefined) {
      const keys = opts.delkey === '-' ? stdinLines(await readAll(io.stdin)) : [opts.delkey];
      let found = false;
      for (const arg of opts.args) {
        const s = specOf(arg);
        const table = open(s.spec);
        if (!table.delete) fatal(`table ${s.spec} is read-only`);
        for (const key of keys) if (await table.delete!(key)) found = true;
      }
      return found ? 0 : 1;
    }

    if (opts.query !== undefined) {
      if (opts.query === '-') {
        let found = false;
        const input = await readAll(io.stdin);
        const keys = modes.header || modes.body ? messageKeys(input, modes) : stdinLines(input);
        for (const key of keys) {
          for (const arg of opts.args) {
            const spec = specOf(arg).spec;
            const value = await open(spec).lookup(key);
            if (value !== undefined) {
              write(io.stdout, `${key}${flavor.separator}${shown(spec, key, value)}\n`);
              found = true;
              break;
            }
          }
        }
        return found ? 0 : 1;
      }
      for (const arg of opts.args) {
        const spec = specOf(arg).spec;
        const value = await open(spec).lookup(opts.query);
        if (value !== undefined) {
          write(io.stdout, `${shown(spec, opts.query, value)}\n`);
          return 0;
        }
      }
      return 1;
    }

    if (opts.flags.has('s')) {
      const s = specOf(opts.args[0]!);
      if (s.proxied) fatal("can't sequence maps via the proxy service");
      const table = open(s.spec);
      if (!table.entries) fatal(`table ${s.spec}: sequence operation is not supported`);
      for await (const [key, value] of table.entries!()) write(io.stdout, `${key}${flavor.separator}${shown(s.spec, key, value)}\n`);
      return 0;
    }

    for (const arg of opts.args) {
      // Warnings are printed in line order, as Postfix reports them while reading.
      const pending: TableDiagnostic[] = [];
      const onDiagnostic = (d: TableDiagnostic): void => void pending.push(d);
      const flush = (): void => {
        for (const d of pending.sort((a, b) => a.line - b.line)) warn(d.text);
        pending.length = 0;
      };
      if (opts.flags.has('i')) {
        const { table } = lmdbFor(arg, 'update');
        const entries = encoded(flavor.parse(await readAll(io.stdin), 'stdin', onDiagnostic), 'stdin', onDiagnostic);
        const trailer = flavor.trailer.map(([key, value]) => ({ key, value, line: 0 }));
        await table.addEntries(entries, { fold, duplicates, file: 'stdin', onDiagnostic });
        flush();
        if (trailer.length > 0) await table.addEntries(trailer, { fold, duplicates: 'replace', file: 'stdin' });
        continue;
      }
      const { table, name } = lmdbFor(arg, 'create');
      let text: string;
      let mode: number;
      try {
        text = readFileSync(name, 'utf8');
        mode = statSync(name).mode;
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        fatal(`open ${name}: ${e.code === 'ENOENT' ? 'No such file or directory' : e.message}`);
      }
      const entries = collectEntries(encoded(flavor.parse(text!, name, onDiagnostic), name, onDiagnostic), { fold, duplicates, file: name, onDiagnostic });
      flush();
      for (const [key, value] of flavor.trailer) entries.set(key, value);
      await table.rebuild(entries, fold);
      try {
        chmodSync(table.path, opts.flags.has('p') ? 0o644 : 0o600 | (mode! & 0o044));
      } catch (err) {
        warn(`chmod ${table.path}: ${(err as Error).message}`);
      }
    }
    return 0;
  } catch (err) {
    const text = err instanceof Fatal ? err.message : describeError(err);
    write(io.stderr, `${program}: fatal: ${text}\n`);
    return 1;
  }
}

/** postmap(1). */
export async function mapCommand(argv: string[], io: CommandIo, options: MapCommandOptions): Promise<number> {
  return runTableAdmin(POSTMAP, argv, io, options);
}
