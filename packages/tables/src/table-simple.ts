/**
 * In-memory and system tables: inline:, static:, fail:, texthash:, unix:.
 *
 * inline:{ key=value, { key = text with spaces }, ... }
 *   Postfix dict_inline. Items are separated by commas and/or whitespace;
 *   an item in braces may contain spaces (whitespace around `=` is
 *   removed). Keys are folded to lowercase.
 * static:value, static:{ text with spaces }
 *   Always returns the value, whatever the key.
 * fail:label
 *   Every lookup fails (rejects with POSTERN_ERR_TABLE_LOOKUP), for tests.
 * texthash:/path
 *   The postmap(1) input file read into memory: keys folded to lowercase,
 *   duplicates warned about (first wins); re-read when the file changes.
 * unix:passwd.byname, unix:group.byname
 *   The passwd/group database by name. The value is the entry as Postfix
 *   returns it: `name:passwd:uid:gid:gecos:dir:shell` and
 *   `name:passwd:gid:member,member`. Read from /etc/passwd and /etc/group
 *   (re-read when they change).
 */
import type { Logger } from '@postern/core';
import type { LookupTable } from '@postern/core';
import { posternError } from '@postern/core';
import { FileWatch } from './file-watch.js';
import { collectEntries, parseMapSource } from './table-source.js';
import { extractBraced, splitOutsideBraces } from './table-braces.js';

/** Strips one level of `{ }` with surrounding whitespace, or returns undefined when not braced. */
export function stripBraces(text: string): string | undefined {
  const t = text.trim();
  if (!t.startsWith('{')) return undefined;
  return extractBraced(t);
}

/** Parses the name of an inline: table into entries (keys folded). */
export function parseInline(spec: string, name: string): Map<string, string> {
  let inner: string | undefined;
  try {
    inner = stripBraces(name);
  } catch (err) {
    throw posternError('POSTERN_ERR_TABLE_OPEN', spec, (err as Error).message);
  }
  if (inner === undefined) throw posternError('POSTERN_ERR_TABLE_OPEN', spec, 'syntax error: expected {name=value ...}');
  const map = new Map<string, string>();
  for (const item of splitOutsideBraces(inner)) {
    let text = item;
    try {
      text = stripBraces(item) ?? item;
    } catch (err) {
      throw posternError('POSTERN_ERR_TABLE_OPEN', spec, (err as Error).message);
    }
    const eq = text.indexOf('=');
    const key = eq < 0 ? '' : text.slice(0, eq).trim();
    if (eq < 0 || key === '')
      throw posternError('POSTERN_ERR_TABLE_OPEN', spec, `syntax error: "${item}": expected name=value format`);
    map.set(key.toLowerCase(), text.slice(eq + 1).trim());
  }
  if (map.size === 0) throw posternError('POSTERN_ERR_TABLE_OPEN', spec, 'empty table');
  return map;
}

abstract class MemoryTable implements LookupTable {
  abstract readonly type: string;
  readonly pattern = false;
  protected map = new Map<string, string>();
  constructor(
    readonly name: string,
    readonly spec: string,
  ) {}
  protected async refresh(): Promise<void> {}
  async lookup(key: string): Promise<string | undefined> {
    await this.refresh();
    return this.map.get(key.toLowerCase());
  }
  async *entries(): AsyncIterable<readonly [string, string]> {
    await this.refresh();
    yield* [...this.map.entries()];
  }
}

export class InlineTable extends MemoryTable {
  readonly type = 'inline';
  constructor(name: string, spec: string) {
    super(name, spec);
    this.map = parseInline(spec, name);
  }
}

export class StaticTable implements LookupTable {
  readonly type = 'static';
  readonly pattern = false;
  readonly value: string;
  constructor(
    readonly name: string,
    readonly spec: string,
  ) {
    let v: string | undefined;
    try {
      v = stripBraces(name);
    } catch (err) {
      throw posternError('POSTERN_ERR_TABLE_OPEN', spec, (err as Error).message);
    }
    this.value = v ?? name;
  }
  async lookup(): Promise<string | undefined> {
    return this.value;
  }
}

export class FailTable implements LookupTable {
  readonly type = 'fail';
  readonly pattern = false;
  constructor(
    readonly name: string,
    readonly spec: string,
  ) {}
  async lookup(): Promise<string | undefined> {
    throw posternError('POSTERN_ERR_TABLE_LOOKUP', this.spec, 'table lookup failed (fail: table)');
  }
}

export class TexthashTable extends MemoryTable {
  readonly type = 'texthash';
  private readonly watch: FileWatch;
  constructor(name: string, spec: string, log?: Logger) {
    super(name, spec);
    this.watch = new FileWatch(spec, name, (text) => {
      const onDiagnostic = (d: { text: string }): void => log?.warn(d.text);
      this.map = collectEntries(parseMapSource(text, name, onDiagnostic), {
        fold: true,
        duplicates: 'warn',
        file: name,
        onDiagnostic,
      });
    });
  }
  protected override async refresh(): Promise<void> {
    await this.watch.refresh();
  }
}

export interface UnixFiles {
  passwd?: string;
  group?: string;
}

export class UnixTable extends MemoryTable {
  readonly type = 'unix';
  private readonly watch: FileWatch;
  constructor(name: string, spec: string, files: UnixFiles = {}) {
    super(name, spec);
    let path: string;
    let format: (f: string[]) => string | undefined;
    if (name === 'passwd.byname') {
      path = files.passwd ?? '/etc/passwd';
      format = (f) => (f.length >= 7 ? `${f[0]}:${f[1]}:${Number(f[2])}:${Number(f[3])}:${f[4]}:${f[5]}:${f[6]}` : undefined);
    } else if (name === 'group.byname') {
      path = files.group ?? '/etc/group';
      format = (f) => (f.length >= 4 ? `${f[0]}:${f[1]}:${Number(f[2])}:${f[3]}` : undefined);
    } else {
      throw posternError('POSTERN_ERR_TABLE_OPEN', spec, `unknown table: ${name}`);
    }
    this.watch = new FileWatch(spec, path, (text) => {
      const map = new Map<string, string>();
      for (const line of text.split('\n')) {
        if (line === '' || line.startsWith('#') || line.startsWith('+') || line.startsWith('-')) continue;
        const value = format(line.split(':'));
        const key = line.split(':')[0]!.toLowerCase();
        if (value !== undefined && !map.has(key)) map.set(key, value);
      }
      this.map = map;
    });
  }
  protected override async refresh(): Promise<void> {
    await this.watch.refresh();
  }
}
