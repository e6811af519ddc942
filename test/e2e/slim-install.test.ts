/**
 * A slim install from packed tarballs: core, the CLI and only smtpd,
 * cleanup, trivial-rewrite, qmgr, bounce and lmtp (with the library
 * packages they need) in an empty directory with no other Postern package.
 * A message goes from SMTP to a real Dovecot LMTP server; `postern check`
 * names the package of a service that is not installed; `postern queue -p`
 * says the running system has no showq.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DOVECOT, startDovecot } from '../lib/dovecot.js';
import { freePort } from '../lib/instance.js';
import { LineClient } from '../lib/line-client.js';
import { installTarballs, pack, withWorkspaceDependencies, workspacePackages } from '../lib/pack.js';

const run = promisify(execFile);
const SLIM = ['@postern/cli', '@postern/plugin-smtpd', '@postern/plugin-cleanup', '@postern/plugin-trivial-rewrite', '@postern/plugin-qmgr', '@postern/plugin-bounce', '@postern/plugin-lmtp'];

test('slim install from tarballs: SMTP in, Dovecot LMTP out; check names a missing package', { skip: DOVECOT ? false : 'dovecot not installed: install dovecot-lmtpd', timeout: 240_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'postern-slim-'));
  chmodSync(dir, 0o755);
  const dovecot = await startDovecot();
  let master: ReturnType<typeof spawn> | undefined;
  try {
    const names = withWorkspaceDependencies(SLIM);
    const folders = names.map((n) => workspacePackages().get(n)!);
    const tarballs = await pack(folders, join(dir, 'tarballs'));
    const app = join(dir, 'app');
    await installTarballs(app, tarballs);
    // exactly the packed packages, no other Postern package
    const installed = readdirSync(join(app, 'node_modules', '@postern')).map((n) => `@postern/${n}`).sort();
    assert.deepEqual(installed, names);
    assert.ok(!installed.includes('@postern/mta') && !installed.includes('@postern/plugin-smtp'));
    const bin = join(app, 'node_modules', '.bin', 'postern');
    assert.ok(existsSync(bin), 'npm linked node_modules/.bin/postern');

    const etc = join(app, 'etc');
    const spool = join(dir, 'spool');
    mkdirSync(etc);
    const port = await freePort();
    writeFileSync(
      join(etc, 'main.cf'),
      [
        `queue_directory = ${spool}`,
        `data_directory = ${join(dir, 'data')}`,
        'myhostname = slim.example.test',
        'mydestination =',
        'inet_interfaces = loopback-only',
        'inet_protocols = ipv4',
        'mynetworks = 127.0.0.0/8',
        'smtpd_peername_lookup = no',
        `default_transport = lmtp:inet:127.0.0.1:${dovecot.port}`,
        '',
      ].join('\n'),
    );
    const services = [
      `127.0.0.1:${port} inet n - n - - smtpd`,
      'cleanup unix n - n - 0 cleanup',
      'qmgr unix n - n 300 1 qmgr',
      'rewrite unix - - n - - trivial-rewrite',
      'bounce unix - - n - 0 bounce',
      'defer unix - - n - 0 bounce',
      'trace unix - - n - 0 bounce',
      'lmtp unix - - n - - lmtp',
    ];
    writeFileSync(join(etc, 'master.cf'), services.join('\n') + '\n');
    const check = await run(bin, ['-c', etc, 'check'], { cwd: app });
    assert.equal(check.stderr, '');

    // the system runs from the installed packages alone (postfix(1)'s order of options)
    master = spawn(bin, ['-c', etc, 'start-fg'], { cwd: app, stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    master.stdout!.on('data', (d) => (log += d));
    master.stderr!.on('data', (d) => (log += d));
    const c = await waitForSmtp(port, () => log);
    assert.match(await c.next(), /^220 /);
    c.send('EHLO client.test');
    while (!/^250 /.test(await c.next()));
    assert.match(await c.ask('MAIL FROM:<sender@client.test>'), /^250 /);
    assert.match(await c.ask('RCPT TO:<alice@remote.test>'), /^250 /);
    assert.match(await c.ask('DATA'), /^354 /);
    c.send('Subject: slim install\r\n\r\nDelivered by a slim Postern.\r\n.');
    assert.match(await c.next(), /^250 2\.0\.0 Ok: queued as /);
    await c.ask('QUIT');
    c.close();
    const deadline = Date.now() + 30_000;
    // Dovecot stores the message before it answers; lmtp logs status=sent after the answer
    while ((dovecot.messages().length === 0 || !/status=sent/.test(log)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.equal(dovecot.messages().length, 1, log);
    assert.match(dovecot.messages()[0]!, /Subject: slim install\n[\s\S]*Delivered by a slim Postern\./);
    assert.match(log, /status=sent/);

    // a command whose service is not installed says so
    const q = await run(bin, ['-c', etc, 'queue', '-p'], { cwd: app });
    assert.match(q.stderr, /runs without a showq service: no installed package provides it \(install @postern\/plugin-showq\)/);

    // a service whose package is missing: one line naming the package
    writeFileSync(join(etc, 'master.cf'), [...services, 'showq unix n - n - - showq'].join('\n') + '\n');
    const bad = await run(bin, ['-c', etc, 'check'], { cwd: app }).then(
      () => assert.fail('check passed with showq missing'),
      (err: { code: number; stderr: string }) => err,
    );
    assert.equal(bad.code, 1);
    const lines = bad.stderr.trim().split('\n');
    assert.equal(lines.length, 1, bad.stderr);
    assert.match(lines[0]!, /showq.*@postern\/plugin-showq/);
  } finally {
    if (master && master.exitCode === null) {
      const exited = new Promise((r) => master!.once('exit', r));
      master.kill('SIGTERM');
      await exited;
    }
    await dovecot.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

async function waitForSmtp(port: number, log: () => string): Promise<LineClient> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      return await LineClient.open(port);
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`smtpd did not listen: ${String(err)}\n${log()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
