/**
 * lmdb: tables, Postern's indexed table type (Postfix dict_lmdb).
 *
 * `lmdb:/etc/postfix/virtual` reads `/etc/postfix/virtual.lmdb`, built by
 * `postern postmap` (postmap(1)) from the text file `/etc/postfix/virtual`.
 * hash:, btree:, dbm:, sdbm: and cdb: specs open lmdb tables (see
 * registry.ts), so a Debian main.cf works unchanged.
 *
 * File layout: one LMDB environment file (`NAME.lmdb`, lock file
 * `NAME.lmdb-lock`) with two named databases: `postern.table` (key ->
 * value, UTF-8 strings) and `postern.meta` (`fold` = "1" when keys were
 * folded to lowercase at build time, "0" when built with postmap -f).
 * Lookups fold the key to lowercase unless the table was built with -f.
 * The file is not compatible with Postfix's own lmdb files.
 *
 * Concurrency: postmap rebuilds a table in place in one write transaction
 * (clear + all puts), so readers switch atomically from the old contents to
 * the new, without the lock-file mismatch that renaming a new LMDB file
 * over a live one would cause. If the file is replaced by other means
 * (new inode), readers notice on the next lookup (one stat(2) per lookup)
 * and reopen it. LMDB readers need write access to the lock file, so
 * postmap leaves it mode 0666 (and the table 0644).
 *
 * Services only read; update() and delete() serve postmap -i and -d.
 * Within one process, each file has one environment: reads and writes go
 * through the same LmdbTable object (the registry caches it per spec).
 */
import { accessSync, chmodSync, constants, existsSync, statSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { open } from 'lmdb';
import type { Database, RootDatabase } from 'lmdb';
import type { LookupTable } from '@postern/core';
import { posternError } from '@postern/core';
import { collectEntries } from './table-source.js';
import type { DiagnosticHandler, DuplicatePolicy, SourceEntry } from './table-source.js';

export const LMDB_SUFFIX = '.lmdb';
const TABLE_DB = 'postern.table';
const META_DB = 'postern.meta';

interface OpenEnv {
  root: RootDatabase<string, string>;
  table: Database<string, string>;
  meta: Database<string, string>;
  writable: boolean;
  inode: string;
}

function chmodQuietly(path: string, mode: number): void {
  try {
    chmodSync(path, mode);
  } catch {
    /* not ours to change: leave it */
  }
}

function inodeOf(path: string): string {
  const st = statSync(path);
  return `${st.dev}:${st.ino}`;
}

function isPermissionError(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'EACCES' || code === 'EPERM' || /permission denied/i.test((err as Error).message ?? '');
}

function errText(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (e.code === 'ENOENT') return `${e.path ?? ''}: No such file or directory`;
  return e.message ?? String(err);
}

export class LmdbTable implements LookupTable {
  readonly type = 'lmdb';
  readonly pattern = false;
  /** The database file (`name` + ".lmdb"). */
  readonly path: string;
  private env: OpenEnv | undefined;

  constructor(
    readonly name: string,
    readonly spec: string,
  ) {
    this.path = name + LMDB_SUFFIX;
  }

  /** True when keys are folded to lowercase (the table was not built with -f). */
  async folds(): Promise<boolean> {
    const env = await this.reader();
    return env.meta.get('fold') !== '0';
  }

  private openEnv(write: boolean): OpenEnv {
    const attempt = (readOnly: boolean): OpenEnv => {
      const root = open<string, string>({ path: this.path, noSubdir: true, maxDbs: 4, readOnly, encoding: 'string' });
      try {
        const table = root.openDB<string, string>({ name: TABLE_DB, encoding: 'string' });
        const meta = root.openDB<string, string>({ name: META_DB, encoding: 'string' });
        return { root, table, meta, writable: !readOnly, inode: inodeOf(this.path) };
      } catch (err) {
        void root.close();
        throw err;
      }
    };
    if (!write && !existsSync(this.path))
      throw posternError('POSTERN_ERR_TABLE_OPEN', this.spec, `${this.path}: No such file or directory`);
    // services only read: a read-only environment needs no write access to the table file
    if (!write) return attempt(true);
    const env = attempt(false);
    // Services that run as mail_owner read tables that root built: LMDB
    // readers must write the lock file's reader table (Postfix's own lmdb
    // tables use MDB_NOLOCK, which lmdb-js does not offer).
    for (const [file, mode] of [[`${this.path}-lock`, 0o666], [this.path, 0o644]] as const) chmodQuietly(file, mode);
    return env;
  }

  private async closeEnv(): Promise<void> {
    const env = this.env;
    this.env = undefined;
    if (env) await env.root.close();
  }

  /** Opens the environment now (before the process drops privileges); see LookupTable.open. */
  async open(): Promise<void> {
    await this.reader();
  }

  /**
   * The open environment for reading, reopened when the file was replaced.
   * A process that opened the table as root and then dropped privileges may
   * no longer see or open the file: it keeps reading the environment it has.
   */
  private async reader(): Promise<OpenEnv> {
    try {
      if (this.env) {
        let st;
        try {
          st = await stat(this.path);
        } catch (err) {
          if (isPermissionError(err)) return this.env;
          throw err;
        }
        if (`${st.dev}:${st.ino}` === this.env.inode) return this.env;
        try {
          accessSync(this.path, constants.R_OK);
        } catch (err) {
          if (isPermissionError(err)) return this.env;
          throw err;
        }
        await this.closeEnv();
      }
      this.env = this.openEnv(false);
      return this.env;
    } catch (err) {
      if ((err as { code?: string }).code === 'POSTERN_ERR_TABLE_OPEN') throw err;
      throw posternError('POSTERN_ERR_TABLE_OPEN', this.spec, errText(err), err instanceof Error ? err : undefined);
    }
  }

  /** The open environment for writing (created when missing). */
  private async writer(): Promise<OpenEnv> {
    if (this.env?.writable && existsSync(this.path) && inodeOf(this.path) === this.env.inode) return this.env;
    await this.closeEnv();
    try {
      this.env = this.openEnv(true);
    } catch (err) {
      throw posternError('POSTERN_ERR_TABLE_OPEN', this.spec, errText(err), err instanceof Error ? err : undefined);
    }
    return this.env;
  }

  async lookup(key: string): Promise<string | undefined> {
    const env = await this.reader();
    const k = env.meta.get('fold') === '0' ? key : key.toLowerCase();
    try {
      return env.table.get(k);
    } catch (err) {
      throw posternError('POSTERN_ERR_TABLE_LOOKUP', this.spec, errText(err), err instanceof Error ? err : undefined);
    }
  }

  async *entries(): AsyncIterable<readonly [string, string]> {
    const env = await this.reader();
    for (const { key, value } of env.table.getRange()) yield [key, value] as const;
  }

  /** Adds or replaces one entry (key folded per the table's setting). */
  async update(key: string, value: string): Promise<void> {
    const env = await this.writer();
    env.root.transactionSync(() => {
      const fold = env.meta.get('fold') !== '0';
      if (env.meta.get('fold') === undefined) env.meta.putSync('fold', '1');
      env.table.putSync(fold ? key.toLowerCase() : key, value);
    });
  }

  /** Removes one entry; true when it existed. */
  async delete(key: string): Promise<boolean> {
    if (!existsSync(this.path))
      throw posternError('POSTERN_ERR_TABLE_OPEN', this.spec, `${this.path}: No such file or directory`);
    const env = await this.writer();
    return env.root.transactionSync(() => {
      const k = env.meta.get('fold') === '0' ? key : key.toLowerCase();
      return env.table.removeSync(k);
    });
  }

  /**
   * Replaces the whole contents in one write transaction (postmap without -i).
   * `entries` keys are stored as given: fold them before when `fold`.
   */
  async rebuild(entries: Iterable<readonly [string, string]>, fold: boolean): Promise<void> {
    const env = await this.writer();
    env.root.transactionSync(() => {
      env.table.clearSync();
      env.meta.clearSync();
      env.meta.putSync('fold', fold ? '1' : '0');
      for (const [k, v] of entries) env.table.putSync(k, v);
    });
  }

  /**
   * Adds entries in one write transaction (postmap -i). A new file records
   * `fold`; an existing one keeps its setting. Duplicates (within the input
   * or with existing keys) follow `duplicates`, warnings naming `file`.
   */
  async addEntries(
    entries: readonly SourceEntry[],
    options: { fold: boolean; duplicates: DuplicatePolicy; file: string; onDiagnostic?: DiagnosticHandler },
  ): Promise<void> {
    const env = await this.writer();
    env.root.transactionSync(() => {
      let stored = env.meta.get('fold');
      if (stored === undefined) {
        stored = options.fold ? '1' : '0';
        env.meta.putSync('fold', stored);
      }
      const fold = stored !== '0';
      const seen = collectEntries(entries, { ...options, fold });
      const lines = new Map<string, number>();
      for (const e of entries) {
        const k = fold ? e.key.toLowerCase() : e.key;
        if (!lines.has(k)) lines.set(k, e.line);
      }
      for (const [k, v] of seen) {
        if (env.table.get(k) !== undefined) {
          if (options.duplicates === 'ignore') continue;
          if (options.duplicates === 'warn') {
            const line = lines.get(k) ?? 0;
            options.onDiagnostic?.({
              file: options.file,
              line,
              message: `duplicate entry: "${k}"`,
              text: `${options.file}, line ${line}: duplicate entry: "${k}"`,
            });
            continue;
          }
        }
        env.table.putSync(k, v);
      }
    });
  }

  async close(): Promise<void> {
    await this.closeEnv();
  }
}
