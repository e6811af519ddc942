/**
 * The plugin guide's example package (examples/postern-plugin-blocklist),
 * installed from its tarball beside a slim Postern installed from tarballs:
 * postconf knows its parameters, check knows its restriction (and names one
 * that nobody provides), smtpd runs the restriction with the parameters and
 * master runs its master.cf service.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../lib/instance.js';
import { LineClient } from '../lib/line-client.js';
import { installTarballs, pack, ROOT, withWorkspaceDependencies, workspacePackages } from '../lib/pack.js';

const run = promisify(execFile);

async function open(port: number, log: () => string): Promise<LineClient> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      return await LineClient.open(port);
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`nothing listens on ${port}: ${String(err)}\n${log()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

test('the example plugin from its tarball: parameters, restriction, master.cf service', { timeout: 240_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'postern-example-'));
  chmodSync(dir, 0o755);
  let master: ReturnType<typeof spawn> | undefined;
  try {
    const names = withWorkspaceDependencies(['@postern/cli', '@postern/plugin-smtpd', '@postern/plugin-cleanup', '@postern/plugin-trivial-rewrite']);
    const folders = [...names.map((n) => workspacePackages().get(n)!), join(ROOT, 'examples', 'postern-plugin-blocklist')];
    const app = join(dir, 'app');
    await installTarballs(app, await pack(folders, join(dir, 'tarballs')));
    const bin = join(app, 'node_modules', '.bin', 'postern');
    const etc = join(app, 'etc');
    mkdirSync(etc);
    const [smtp, report] = [await freePort(), await freePort()];
    const main = [
      `queue_directory = ${join(dir, 'spool')}`,
      `data_directory = ${join(dir, 'data')}`,
      'myhostname = example-plugin.test',
      'inet_interfaces = loopback-only',
      'inet_protocols = ipv4',
      'mynetworks = 127.0.0.0/8',
      'smtpd_peername_lookup = no',
      'postern_smtpd_plugins = postern-plugin-blocklist',
      'smtpd_sender_restrictions = reject_blocklisted_sender',
      'blocklist_sender_domains = spam.test, junk.test',
      'blocklist_reply_text = go away',
    ];
    writeFileSync(join(etc, 'main.cf'), main.join('\n') + '\n');
    writeFileSync(
      join(etc, 'master.cf'),
      [`127.0.0.1:${smtp} inet n - n - - smtpd`, `127.0.0.1:${report} inet n - n - - blocklist-report`, 'cleanup unix n - n - 0 cleanup', 'rewrite unix - - n - - trivial-rewrite', ''].join('\n'),
    );
    // the package's parameters are known (postconf -d), its restriction passes check
    const d = await run(bin, ['-c', etc, 'conf', '-d', 'blocklist_reject_code'], { cwd: app });
    assert.equal(d.stdout, 'blocklist_reject_code = 554\n');
    const ok = await run(bin, ['-c', etc, 'check'], { cwd: app });
    assert.equal(ok.stderr, '');

    master = spawn(bin, ['-c', etc, 'start-fg'], { cwd: app, stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    master.stdout!.on('data', (b) => (log += b));
    master.stderr!.on('data', (b) => (log += b));
    const c = await open(smtp, () => log);
    assert.match(await c.next(), /^220 /);
    c.send('EHLO client.test');
    while (!/^250 /.test(await c.next()));
    // smtpd_delay_reject (yes): sender restrictions answer at RCPT
    assert.match(await c.ask('MAIL FROM:<bad@mx.spam.test>'), /^250 /);
    assert.equal(await c.ask('RCPT TO:<someone@elsewhere.test>'), '554 5.7.1 <bad@mx.spam.test>: Sender address rejected: go away');
    assert.match(await c.ask('RSET'), /^250 /);
    assert.match(await c.ask('MAIL FROM:<good@fine.test>'), /^250 /);
    assert.match(await c.ask('RCPT TO:<someone@elsewhere.test>'), /^250 /);
    await c.ask('QUIT');
    c.close();
    assert.match(log, /postfix\/smtpd\[\d+\]: blocklist: sender <bad@mx\.spam\.test> is under spam\.test/);
    const r = await open(report, () => log);
    assert.equal(await r.next(), 'blocklist: 2 domain(s): spam.test junk.test');
    r.close();

    // a restriction name that no installed package provides
    writeFileSync(join(etc, 'main.cf'), [...main, 'smtpd_recipient_restrictions = permit_mynetworks, reject_blocklisted_senders, reject'].join('\n') + '\n');
    const bad = await run(bin, ['-c', etc, 'check'], { cwd: app }).then(
      () => assert.fail('check passed'),
      (err: { code: number; stderr: string }) => err,
    );
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /smtpd_recipient_restrictions: unknown restriction "reject_blocklisted_senders": no installed package provides it/);
  } finally {
    if (master && master.exitCode === null) {
      const exited = new Promise((r) => master!.once('exit', r));
      master.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  }
});
