/**
 * The container recipe without a container runtime: the whole system
 * installed from packed tarballs as the Dockerfile's image stage does, then
 * the image's CMD run with the image's environment the way the runtime runs
 * it: in the foreground, the log on stdout, SIGTERM (the STOPSIGNAL), exit
 * status 0. The systemd unit runs the same foreground command.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { installTarballs, pack, ROOT, workspacePackages } from '../lib/pack.js';

const run = promisify(execFile);

/** The Dockerfile's last stage: CMD (exec form), ENV, STOPSIGNAL. */
function imageSpec(text: string): { cmd: string[]; env: Record<string, string>; stopSignal: string } {
  const stage = text.split(/^FROM /m).pop()!;
  const cmd = JSON.parse(/^CMD (\[.*\])$/m.exec(stage)![1]!) as string[];
  const env: Record<string, string> = {};
  for (const m of stage.matchAll(/^ENV (\w+)=(\S+)$/gm)) env[m[1]!] = m[2]!;
  return { cmd, env, stopSignal: /^STOPSIGNAL (\w+)$/m.exec(stage)?.[1] ?? 'SIGTERM' };
}

test('the image entry command runs in the foreground and stops cleanly on SIGTERM', { timeout: 240_000 }, async () => {
  const spec = imageSpec(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'));
  assert.deepEqual(spec.cmd, ['postern', 'start-fg']);
  assert.equal(spec.stopSignal, 'SIGTERM');
  assert.match(readFileSync(join(ROOT, 'contrib', 'postern.service'), 'utf8'), /^ExecStart=.*postern .*start-fg$/m);

  const dir = mkdtempSync(join(tmpdir(), 'postern-image-'));
  chmodSync(dir, 0o755);
  try {
    // the image stage: every package of packages/ and the distribution
    const folders = [...workspacePackages().values()].filter((d) => /\/(packages|apps)\/[^/]+$/.test(d));
    const app = join(dir, 'opt');
    await installTarballs(app, await pack(folders, join(dir, 'pkgs')));
    const bin = join(app, 'node_modules', '.bin');
    const home = join(dir, 'var-lib-postern');
    const env = {
      ...process.env,
      ...Object.fromEntries(Object.entries(spec.env).map(([k, v]) => [k, v.replace('/opt/postern/node_modules/.bin', bin).replace('$PATH', process.env['PATH'] ?? '')])),
      POSTERN_HOME: home,
    };
    const version = await run('postern', ['--version'], { cwd: app, env });
    assert.match(version.stdout, /^postern \d+\.\d+\.\d+\n$/);

    const child = spawn(spec.cmd[0]!, spec.cmd.slice(1), { cwd: app, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.once('exit', (code, signal) => r({ code, signal })));
    const deadline = Date.now() + 30_000;
    while (!/master\[\d+\]: daemon started/.test(stdout) && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 100));
    assert.match(stdout, /postfix\/master\[\d+\]: daemon started -- version /, `stdout:\n${stdout}\nstderr:\n${stderr}`);
    assert.ok(existsSync(join(home, 'etc', 'master.cf')), 'the first start wrote the embedded default instance');
    child.kill(spec.stopSignal as NodeJS.Signals);
    const { code, signal } = await exited;
    assert.equal(signal, null);
    assert.equal(code, 0, stderr);
    assert.match(stdout, /master\[\d+\]: terminating on signal 15/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
