/**
 * Installs workspace packages the way a user does: `npm pack` each (what
 * would be published), then `npm install` of the tarballs into an empty
 * directory. Their other dependencies come from the registry (the npm cache).
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** The workspace folder of each @postern package, by name. */
export function workspacePackages(): Map<string, string> {
  const out = new Map<string, string>();
  for (const top of ['packages', 'apps', 'examples']) {
    let names: string[] = [];
    try {
      names = readdirSync(join(ROOT, top));
    } catch {
      continue;
    }
    for (const n of names) {
      try {
        const pkg = JSON.parse(readFileSync(join(ROOT, top, n, 'package.json'), 'utf8')) as { name: string };
        out.set(pkg.name, join(ROOT, top, n));
      } catch {
        /* not a package */
      }
    }
  }
  return out;
}

/** `names` and the workspace packages they depend on, transitively. */
export function withWorkspaceDependencies(names: readonly string[]): string[] {
  const all = workspacePackages();
  const seen = new Set<string>();
  const visit = (name: string) => {
    if (seen.has(name) || !all.has(name)) return;
    seen.add(name);
    const pkg = JSON.parse(readFileSync(join(all.get(name)!, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
    for (const d of Object.keys(pkg.dependencies ?? {})) visit(d);
  };
  for (const n of names) visit(n);
  return [...seen].sort();
}

/** Packs the folders into `dest`; returns the tarball paths. */
export async function pack(folders: readonly string[], dest: string): Promise<string[]> {
  mkdirSync(dest, { recursive: true });
  const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', dest, ...folders], { cwd: ROOT, maxBuffer: 64 << 20 });
  return (JSON.parse(stdout) as { filename: string }[]).map((p) => join(dest, p.filename));
}

/** An empty project in `dir` with the tarballs installed; returns npm's output. */
export async function installTarballs(dir: string, tarballs: readonly string[]): Promise<string> {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'postern-install-test', private: true, type: 'module' }));
  const { stdout, stderr } = await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', ...tarballs], { cwd: dir, maxBuffer: 64 << 20 });
  return stdout + stderr;
}
