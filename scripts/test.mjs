// Runs every package's compiled tests, then the end-to-end tests, in one `node --test`
// run so the closing summary counts them all.
import { readdirSync, existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const roots = ['packages', 'apps'].flatMap((top) =>
  existsSync(top) ? readdirSync(top).map((name) => join(top, name, 'dist', 'test')) : [],
);
roots.push(join('test', 'dist', 'e2e'));
const files = roots.filter(existsSync).flatMap(function walk(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(join(dir, e.name)) : e.name.endsWith('.test.js') ? [join(dir, e.name)] : [],
  );
});
const only = process.argv.slice(2);
const selected = only.length ? files.filter((f) => only.some((o) => f.includes(o))) : files;
// a test that hangs fails after 10 minutes instead of holding CI until its own limit (the
// slowest file, admin with its 100,000-message queue, takes 2-5 minutes on a busy machine)
const r = spawnSync(process.execPath, ['--test', '--test-timeout=600000', ...selected], { stdio: 'inherit' });
process.exit(r.status ?? 1);
