import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createConfigView, ParameterRegistry, type ConfigView } from '@postern/core';
import { TRIVIAL_REWRITE_PARAMETERS } from '../src/index.js';

/** A logger that keeps what it is given. */
export { MemoryLogger as MemoryLog } from '@postern/core';

export const BASE: Readonly<Record<string, string>> = {
  myhostname: 'mail.example.com',
  mydomain: 'example.com',
  inet_interfaces: '127.0.0.1',
  compatibility_level: '3.6',
};

export function makeConfig(dir: string, settings: Readonly<Record<string, string>>): ConfigView {
  const registry = ParameterRegistry.withCore();
  registry.declare('@postern/plugin-trivial-rewrite', TRIVIAL_REWRITE_PARAMETERS);
  return createConfigView({
    registry,
    configDirectory: dir,
    overrides: { queue_directory: dir, ...BASE, ...settings },
  });
}

export function tempDir(): { dir: string; file: (name: string, text: string) => string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'postern-rewrite-'));
  return {
    dir,
    file(name, text) {
      const path = join(dir, name);
      writeFileSync(path, text);
      return path;
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
