/**
 * master(8) supervisor, end to end: the real `postern start-fg` with a
 * third-party plugin's small services (test/fixtures/plugins).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { childrenOf, FIXTURES, freePort, Instance } from '../lib/instance.js';
import { LineClient } from '../lib/line-client.js';

const PLUGINS = join(FIXTURES, 'plugins');

/** Connections to local `port` that process `pid` has accepted (from /proc/net/tcp and its fds). */
function acceptedBy(pid: number, port: number): number {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  const inodes = new Set(
    readFileSync('/proc/net/tcp', 'utf8')
      .split('\n')
      .slice(1)
      .map((l) => l.trim().split(/\s+/))
      .filter((f) => f[1]?.endsWith(`:${hex}`) && f[3] === '01')
      .map((f) => f[9]),
  );
  return readdirSync(`/proc/${pid}/fd`).filter((fd) => {
    try {
      return inodes.has(/^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))?.[1] ?? '');
    } catch {
      return false;
    }
  }).length;
}

function pidsOf(greetings: string[]): Set<number> {
  return new Set(greetings.map((g) => Number(g.split(' ').pop())));
}

describe('master supervisor', () => {
  let inst: Instance;
  let echoPort: number;
  let capPort: number;
  let idlePort: number;
  let masterPid: number;

  before(async () => {
    echoPort = await freePort();
    capPort = await freePort();
    idlePort = await freePort();
    inst = new Instance({
      // master_spawn_idle_cores = 0: a busy test machine must not keep master from scaling up
      // master_spare_processes = 0: these tests watch processes start (the spares have a test of their own)
      main: { daemon_directory: PLUGINS, testsvc_greeting: 'hello one', service_throttle_time: '2s', master_spawn_idle_cores: '0', master_spare_processes: '0' },
      master: [
        '# service type private unpriv chroot wakeup maxproc command',
        `127.0.0.1:${echoPort} inet n - n - - echo`,
        `127.0.0.1:${capPort}  inet n - n - 2 echo`,
        '  -o testsvc_greeting=capped',
        `127.0.0.1:${idlePort} inet n - n - - echo`,
        '  -o max_idle=1s',
        'ticker unix n n n 1 1 ticker',
        'echosock unix n - n - 1 echo',
        '#disabled unix - - n - - nosuchcommand',
        '',
      ].join('\n'),
    });
    masterPid = await inst.start();
  });

  after(async () => {
    await inst.dispose();
  });

  test('listens before any service process exists, and starts one on the first client', async () => {
    await inst.waitForLog(/postfix\/master\[\d+\]: daemon started -- version \d+\.\d+\.\d+, configuration /);
    const before = childrenOf(masterPid);
    const c = await LineClient.open(echoPort);
    const greeting = await c.next();
    assert.match(greeting, /^hello one \d+$/);
    const pid = Number(greeting.split(' ').pop());
    assert.ok(!before.includes(pid), 'the service process was started for this client');
    assert.ok(childrenOf(masterPid).includes(pid), 'the service process is a child of master');
    assert.equal(await c.ask('pid'), String(pid));
    c.close();
  });

  test('while a process holds the socket, master leaves accepting to it (master_avail_listen)', async () => {
    const c = await LineClient.open(echoPort);
    const pid = Number((await c.next()).split(' ').pop());
    process.kill(pid, 'SIGSTOP');
    try {
      // the process cannot accept now: the client waits in the listen queue, not in master
      const waiting = LineClient.open(echoPort);
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(acceptedBy(masterPid, echoPort), 0, 'master accepted a connection a service process could take');
      process.kill(pid, 'SIGCONT');
      const d = await waiting;
      assert.equal(Number((await d.next()).split(' ').pop()), pid);
      d.close();
    } finally {
      process.kill(pid, 'SIGCONT');
      c.close();
    }
  });

  test('wakeup timers trigger the service', async () => {
    const ticks = join(inst.queueDir, 'ticks');
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && !(existsSync(ticks) && readFileSync(ticks, 'utf8').includes(' W'))) {
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.match(readFileSync(ticks, 'utf8'), /^\d+ W$/m);
  });

  test('a crashed process is logged as Postfix does and replaced on the next client', async () => {
    const c = await LineClient.open(echoPort);
    const pid = Number((await c.next()).split(' ').pop());
    c.send('die');
    await c.closed;
    await inst.waitForLog(new RegExp(`warning: process \\S+echo pid ${pid} exit status 3`));
    const d = await LineClient.open(echoPort);
    const again = await d.next();
    assert.match(again, /^hello one \d+$/);
    assert.notEqual(Number(again.split(' ').pop()), pid);
    d.close();
  });

  test('a process killed by a signal after it served is replaced at once, every time (no back-off)', async () => {
    for (let i = 0; i < 4; i++) {
      const c = await LineClient.open(echoPort);
      const pid = Number((await c.next()).split(' ').pop());
      process.kill(pid, 'SIGKILL');
      await c.closed;
      await inst.waitForLog(new RegExp(`warning: process \\S+echo pid ${pid} killed by signal SIGKILL`));
      const d = await LineClient.open(echoPort);
      assert.match(await d.next(), /^hello one \d+$/);
      d.close();
    }
    // a back-off (1 s, 2 s, 4 s ...) is logged when it starts; none did
    assert.doesNotMatch(inst.log, /bad command startup -- throttling/);
  });

  test('a process killed from outside while it is still starting is replaced at once (no throttle)', async () => {
    const titled = (pid: number) => {
      try {
        return !readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('master-child.js');
      } catch {
        return true;
      }
    };
    const ofIdle = () => childrenOf(masterPid).filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(`-n 127.0.0.1:${idlePort} `);
      } catch {
        return false;
      }
    });
    // a process that starts faster than this test can see it cannot be killed mid-start: try again
    let midStart = 0;
    for (let i = 0; i < 10 && midStart < 3; i++) {
      // the max_idle=1s service: wait until its process has left, so that a client starts one
      for (const deadline = Date.now() + 15_000; ofIdle().length > 0 && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(ofIdle(), [], 'the idle process left');
      const before = new Set(childrenOf(masterPid));
      const c = await LineClient.open(idlePort);
      let pid: number | undefined;
      for (const deadline = Date.now() + 10_000; !pid && Date.now() < deadline; ) {
        pid = childrenOf(masterPid).find((p) => !before.has(p));
        if (!pid) await new Promise((r) => setTimeout(r, 2));
      }
      assert.ok(pid, 'master started a process for the client');
      if (!titled(pid)) midStart++;
      process.kill(pid, 'SIGKILL');
      await inst.waitForLog(new RegExp(`warning: process \\S+echo pid ${pid} killed by signal SIGKILL`));
      // the client master holds goes to the replacement
      const greeting = await c.next();
      assert.match(greeting, /^hello one \d+$/);
      assert.notEqual(Number(greeting.split(' ').pop()), pid);
      c.close();
    }
    assert.ok(midStart > 0, 'at least one process was killed while it was still starting (before it took its process title)');
    assert.doesNotMatch(inst.log, /bad command startup -- throttling/);
  });

  test('never runs more than maxproc processes, and starts more only when the running ones are saturated', async () => {
    const clients: LineClient[] = [];
    const greetings: string[] = [];
    const burners: Promise<void>[] = [];
    let stop = false;
    const deadline = Date.now() + 20_000;
    // keep every process busy: each client burns CPU in a loop
    while (Date.now() < deadline && pidsOf(greetings).size < 2) {
      const c = await LineClient.open(capPort);
      clients.push(c);
      greetings.push(await c.next());
      burners.push(
        (async () => {
          while (!stop) {
            try {
              await c.ask('burn 150');
            } catch {
              return;
            }
          }
        })(),
      );
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal(pidsOf(greetings).size, 2, 'a second process was started under load');
    for (let i = 0; i < 8; i++) {
      const c = await LineClient.open(capPort);
      clients.push(c);
      greetings.push(await c.next());
    }
    stop = true;
    for (const c of clients) c.close();
    await Promise.all(burners);
    assert.ok(greetings.every((g) => g.startsWith('capped ')), 'the -o override applies to this service only');
    assert.equal(pidsOf(greetings).size, 2, `maxproc 2: ${[...pidsOf(greetings)].join(' ')}`);
  });

  test('reload keeps sessions in progress and gives new clients the new configuration', async () => {
    const old = await LineClient.open(echoPort);
    const oldPid = (await old.next()).split(' ').pop();
    const mainCf = join(inst.configDir, 'main.cf');
    writeFileSync(mainCf, readFileSync(mainCf, 'utf8').replace('testsvc_greeting = hello one', 'testsvc_greeting = hello two'));
    const r = await inst.postern(['reload']);
    assert.equal(r.code, 0, r.stderr);
    await inst.waitForLog(/postfix\/master\[\d+\]: reload -- version/);
    const fresh = await LineClient.open(echoPort);
    assert.match(await fresh.next(), /^hello two \d+$/);
    // the old session is still served by its old process
    assert.equal(await old.ask('pid'), oldPid);
    old.close();
    fresh.close();
  });

  test('an idle process leaves after max_idle and the next client gets a new one', async () => {
    const c = await LineClient.open(idlePort);
    const pid = Number((await c.next()).split(' ').pop());
    c.close();
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline && childrenOf(masterPid).includes(pid)) await new Promise((r) => setTimeout(r, 100));
    assert.ok(!childrenOf(masterPid).includes(pid), 'the idle process has exited');
    const d = await LineClient.open(idlePort);
    assert.notEqual(Number((await d.next()).split(' ').pop()), pid);
    d.close();
  });

  test('status reports the running master', async () => {
    const r = await inst.postern(['status']);
    assert.equal(r.code, 0);
    assert.match(r.stderr, new RegExp(`the Postern mail system is running: PID: ${masterPid}`));
  });

  test('connections master passed to a process that is killed before it took them are closed, not kept', async () => {
    // master watches a UNIX-domain socket all the time: while the process is
    // stopped, master accepts the clients and passes them to it. Node sends one
    // descriptor at a time and queues the rest until the process acknowledges;
    // when the process dies it neither sends nor closes the queued ones.
    const path = join(inst.queueDir, 'public', 'echosock');
    const first = await LineClient.open(path);
    const pid = Number((await first.next()).split(' ').pop());
    process.kill(pid, 'SIGSTOP');
    const waiting = await Promise.all([LineClient.open(path), LineClient.open(path), LineClient.open(path)]);
    await new Promise((r) => setTimeout(r, 300));
    process.kill(pid, 'SIGKILL');
    await first.closed;
    // without the fix the queued ones stay open in master for ever
    const ended = await Promise.race([Promise.all(waiting.map((c) => c.closed)).then(() => true), new Promise((r) => setTimeout(() => r(false), 10_000))]);
    assert.equal(ended, true, 'every connection passed to the killed process was closed');
  });

  test('stop ends master and every service process, and closes the endpoints', async () => {
    const c = await LineClient.open(echoPort);
    await c.next();
    const kids = childrenOf(masterPid);
    assert.ok(kids.length > 0);
    const r = await inst.postern(['stop']);
    assert.equal(r.code, 0, r.stderr);
    await c.closed;
    for (const pid of kids) assert.throws(() => process.kill(pid, 0), 'service process has exited');
    await assert.rejects(LineClient.open(echoPort));
    assert.ok(!existsSync(join(inst.queueDir, 'pid', 'master.pid')));
    const s = await inst.postern(['status']);
    assert.equal(s.code, 1);
    assert.match(s.stderr, /not running/);
  });
});

describe('master spare processes (master_spare_processes)', () => {
  let inst: Instance;
  let port: number;
  let ownOptionsPort: number;
  let masterPid: number;
  const title = (pid: number) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0+/g, ' ').trim();
    } catch {
      return '';
    }
  };

  before(async () => {
    port = await freePort();
    ownOptionsPort = await freePort();
    inst = new Instance({
      main: { daemon_directory: PLUGINS, testsvc_greeting: 'hello spare', master_spare_processes: '1' },
      master: [
        '# service type private unpriv chroot wakeup maxproc command',
        `127.0.0.1:${port} inet n - n - - echo`,
        `127.0.0.1:${ownOptionsPort} inet n - n - - echo -o service_node_options=--stack-size=900`,
        '',
      ].join('\n'),
    });
    masterPid = await inst.start();
  });

  after(async () => {
    await inst.dispose();
  });

  test('a service process is a spare master started before the client came, and a killed one is replaced by the next spare', async () => {
    const spares = async () => {
      const deadline = Date.now() + 15_000;
      for (;;) {
        const found = childrenOf(masterPid).filter((pid) => title(pid).startsWith('postern/spare'));
        if (found.length > 0 || Date.now() > deadline) return found;
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    let last: number | undefined;
    for (let i = 0; i < 3; i++) {
      const waiting = await spares();
      assert.equal(waiting.length, 1, 'one spare waits');
      const c = await LineClient.open(port);
      const greeting = await c.next();
      assert.match(greeting, /^hello spare \d+$/, 'the spare read this service\'s configuration');
      const pid = Number(greeting.split(' ').pop());
      assert.equal(pid, waiting[0], 'the client was served by the spare that was waiting');
      assert.notEqual(pid, last);
      assert.match(title(pid), /^postern\/echo -n 127\.0\.0\.1:\d+ -t inet/);
      process.kill(pid, 'SIGKILL');
      await c.closed;
      await inst.waitForLog(new RegExp(`warning: process \\S+echo pid ${pid} killed by signal SIGKILL`));
      last = pid;
    }
  });

  test('service_node_options: spares and services have main.cf\'s; a service with its own (-o) gets a process of its own', async () => {
    const c = await LineClient.open(port);
    const pid = Number((await c.next()).split(' ').pop());
    assert.equal(await c.ask('execargv'), '--max-semi-space-size=2', 'the default of service_node_options');
    c.close();
    const own = await LineClient.open(ownOptionsPort);
    const ownPid = Number((await own.next()).split(' ').pop());
    // a spare would have main.cf's options: these show a process started for this service
    assert.equal(await own.ask('execargv'), '--stack-size=900');
    assert.notEqual(ownPid, pid);
    own.close();
  });

  test('stop ends the spares too', async () => {
    const all = childrenOf(masterPid);
    assert.ok(all.length > 0);
    await inst.stop();
    for (const pid of all) assert.equal(title(pid), '', `process ${pid} is gone`);
  });
});

describe('master start-up errors', () => {
  test('a master.cf command no installed package provides names the package to install', async () => {
    const inst = new Instance({ master: 'spawn unix - - n - - spawn\n' });
    try {
      const r = await inst.postern(['check']);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /no installed package provides command "spawn"/);
      assert.match(r.stderr, /npm install @postern\/plugin-spawn/);
    } finally {
      await inst.dispose();
    }
  });

  test('a syntax error in main.cf names the file and line', async () => {
    const inst = new Instance({ main: { daemon_directory: PLUGINS }, master: 'ticker unix n - n - 1 ticker\n' });
    try {
      writeFileSync(join(inst.configDir, 'main.cf'), `${readFileSync(join(inst.configDir, 'main.cf'), 'utf8')}this line is not a parameter\n`);
      const r = await inst.postern(['start-fg']);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /main\.cf, line \d+/);
    } finally {
      await inst.dispose();
    }
  });

  test('a port in use is reported with a hint and the other services still run', async () => {
    const busy: Server = createServer();
    const busyPort = await freePort();
    await new Promise<void>((r) => busy.listen(busyPort, '127.0.0.1', r));
    const okPort = await freePort();
    const inst = new Instance({
      main: { daemon_directory: PLUGINS },
      master: `127.0.0.1:${busyPort} inet n - n - - echo\n127.0.0.1:${okPort} inet n - n - - echo\n`,
    });
    try {
      await inst.start();
      await inst.waitForLog(new RegExp(`cannot listen on 127\\.0\\.0\\.1:${busyPort}: EADDRINUSE`));
      await inst.waitForLog(/another program is listening there/);
      const c = await LineClient.open(okPort);
      assert.match(await c.next(), /^hello from mail\.example\.test \d+$/);
      c.close();
    } finally {
      busy.close();
      await inst.dispose();
    }
  });
});
