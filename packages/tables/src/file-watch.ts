/**
 * Reads a table's source file and re-reads it when it changes (modification
 * time, size or inode), checked with one stat(2) per lookup. Used by
 * texthash:, regexp:, pcre: and cidr: tables.
 */
import { readFileSync, statSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { posternError } from '@postern/core';

function signature(st: Stats): string {
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}`;
}

function reason(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (e.code === 'ENOENT') return `${e.path ?? ''}: No such file or directory`.replace(/^: /, '');
  if (e.code === 'EACCES') return `${e.path ?? ''}: Permission denied`.replace(/^: /, '');
  return e.message ?? String(err);
}

function isPermissionError(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'EACCES' || code === 'EPERM';
}

export class FileWatch {
  private sig: string;

  /** Loads the file now; throws POSTERN_ERR_TABLE_OPEN when it cannot be read. */
  constructor(
    private readonly spec: string,
    readonly path: string,
    private readonly load: (text: string) => void,
  ) {
    try {
      const st = statSync(path);
      this.load(readFileSync(path, 'utf8'));
      this.sig = signature(st);
    } catch (err) {
      if ((err as { code?: string }).code === 'POSTERN_ERR_TABLE_SYNTAX') throw err;
      throw posternError('POSTERN_ERR_TABLE_OPEN', spec, reason(err), err instanceof Error ? err : undefined);
    }
  }

  /**
   * Re-reads the file when it changed since the last load. A process that
   * read the file as root and then dropped privileges (see LookupTable.open)
   * keeps what it read when it may no longer stat or read the file.
   */
  async refresh(): Promise<void> {
    let st: Stats;
    try {
      st = await stat(this.path);
    } catch (err) {
      if (isPermissionError(err)) return;
      throw posternError('POSTERN_ERR_TABLE_OPEN', this.spec, reason(err), err instanceof Error ? err : undefined);
    }
    const sig = signature(st);
    if (sig === this.sig) return;
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if (isPermissionError(err)) return;
      throw posternError('POSTERN_ERR_TABLE_OPEN', this.spec, reason(err), err instanceof Error ? err : undefined);
    }
    this.load(text);
    this.sig = sig;
  }
}
