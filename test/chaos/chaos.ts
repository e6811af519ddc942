/**
 * The chaos suite (issue 16): kill -9 under load, a full disk, hostile input,
 * run against Postern and, for the reference figures, against the real
 * Postfix 3.7, in the same harness. Loopback only, bounded in time.
 *
 *   node test/dist/chaos/chaos.js [--size ci|full] [--target postern|postfix|both]
 *                                 [--only kill,disk,fuzz] [--seed N] [--strict] [--log FILE]
 *
 * It prints each scenario's figures; for Postern it checks the targets
 * and exits 1 when one is missed. The full disk needs root (a tmpfs mount);
 * without it that scenario is skipped with a message.
 */
import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fullDisk } from './disk.js';
import { fuzz } from './fuzz.js';
import { killUnderLoad } from './kill.js';
import { random } from './random.js';
import { startSink } from './sink.js';
import { postern, postfix, type Target, type TargetOptions } from './targets.js';

const SIZES = {
  ci: {
    kill: { messages: 200, clients: 5, size: 2048, loadLimit: 60_000, drainLimit: 30_000 },
    disk: { tmpfs: '20m', messages: 150, size: 100 * 1024, drainLimit: 30_000 },
    fuzz: { sessions: 300, slow: 2, qmqp: 40, sendmail: 4, concurrency: 20, timeout: 3, k: 3 },
  },
  full: {
    kill: { messages: 3000, clients: 10, size: 2048, loadLimit: 300_000, drainLimit: 60_000 },
    disk: { tmpfs: '24m', messages: 300, size: 100 * 1024, drainLimit: 60_000 },
    fuzz: { sessions: 3000, slow: 5, qmqp: 300, sendmail: 20, concurrency: 20, timeout: 10, k: 3 },
  },
} as const;

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

const size = arg('size', 'ci') as keyof typeof SIZES;
const sizes = SIZES[size];
const seed = Number(arg('seed', '16'));
const only = new Set(arg('only', 'kill,disk,fuzz').split(','));
const which = arg('target', 'postern');
const makers = [...(which === 'postern' || which === 'both' ? [postern] : []), ...(which === 'postfix' || which === 'both' ? [postfix] : [])];

/** --log FILE: the systems' logs are appended there. */
const logTo = process.argv.includes('--log') ? arg('log', '') : '';

const misses: string[] = [];
const known: string[] = [];
/** --strict: every target counts; otherwise the ones still open (issue 16, README) are reported only. */
const strict = process.argv.includes('--strict');
function check(system: string, ok: boolean, what: string, open = false): void {
  if (system !== 'Postern' || ok) return;
  if (open && !strict) known.push(what);
  else misses.push(what);
}

async function withSystem<T>(make: (o: TargetOptions) => Promise<Target>, o: Omit<TargetOptions, 'sinkPort'>, body: (t: Target, sink: Awaited<ReturnType<typeof startSink>>) => Promise<T>): Promise<T> {
  const sink = await startSink();
  const target = await make({ ...o, sinkPort: sink.port });
  try {
    await target.start();
    return await body(target, sink);
  } finally {
    if (logTo) appendFileSync(logTo, target.log());
    await target.dispose();
    await sink.close();
  }
}

function print(system: string, scenario: string, figures: object): void {
  console.log(`\n== ${system}: ${scenario} (size ${size}, seed ${seed})`);
  for (const [k, v] of Object.entries(figures)) console.log(`  ${k.padEnd(22)} ${typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v)}`);
}

for (const make of makers) {
  const fast = { minimal_backoff_time: '2s', maximal_backoff_time: '4s', queue_run_delay: '2s' };
  if (only.has('kill')) {
    const f = await withSystem(make, { main: fast }, (t, sink) => killUnderLoad(t, sink, random(seed), sizes.kill));
    const name = make === postern ? 'Postern' : 'Postfix';
    print(name, 'kill -9 under load', f);
    check(name, f.lost === 0, `kill: ${f.lost} acknowledged messages lost`);
    check(name, f.drainSeconds !== null && f.drainSeconds <= 30, `kill: queue not empty within 30 s of the last kill (${f.drainSeconds ?? 'never'})`);
  }
  if (only.has('disk')) {
    const dir = mkdtempSync(join(tmpdir(), 'postern-chaos-disk-'));
    let mounted = false;
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizes.disk.tmpfs}`, 'tmpfs', dir], { stdio: 'ignore' });
      mounted = true;
    } catch {
      console.log(`\n== full disk skipped: cannot mount a tmpfs (needs root)`);
    }
    if (mounted) {
      try {
        const f = await withSystem(make, { queueDirectory: dir, main: fast }, (t, sink) => fullDisk(t, sink, sizes.disk));
        const name = make === postern ? 'Postern' : 'Postfix';
        print(name, `full disk (${sizes.disk.tmpfs} tmpfs queue)`, f);
        check(name, f.crashes === 0, `disk: ${f.crashes} crashes`);
        check(name, f.lost === 0, `disk: ${f.lost} acknowledged messages lost`);
      } finally {
        try {
          execFileSync('umount', ['-l', dir], { stdio: 'ignore' });
        } catch {
          /* already gone */
        }
        rmSync(dir, { recursive: true, force: true });
      }
    }
  }
  if (only.has('fuzz')) {
    const main = { smtpd_timeout: `${sizes.fuzz.timeout}s`, qmqpd_timeout: `${sizes.fuzz.timeout}s` };
    const f = await withSystem(make, { main }, (t, sink) => fuzz(t, sink, random(seed), sizes.fuzz));
    const name = make === postern ? 'Postern' : 'Postfix';
    print(name, `hostile input (smtpd_timeout ${sizes.fuzz.timeout}s, k = ${sizes.fuzz.k})`, f);
    check(name, f.outlived === 0 && f.qmqpOutlived === 0, `fuzz: ${f.outlived} SMTP and ${f.qmqpOutlived} QMQP sessions outlived k x timeout`, true);
    check(name, f.slowClosed === f.slowClients, `fuzz: ${f.slowClients - f.slowClosed} slow clients not dropped`);
    check(name, f.oversizedUnanswered === 0, `fuzz: ${f.oversizedUnanswered} oversized lines unanswered`);
    check(name, f.crashes === 0 && f.sendmailCrashes === 0, `fuzz: ${f.crashes} crashes, ${f.sendmailCrashes} sendmail crashes`);
  }
}

if (known.length) console.log(`\nPostern misses target(s) still open (see the README):\n  ${known.join('\n  ')}`);
if (misses.length) {
  console.log(`\nPostern missed ${misses.length} target(s):\n  ${misses.join('\n  ')}`);
  process.exit(1);
}
console.log('\nchaos: done');
process.exit(0);
