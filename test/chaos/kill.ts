/**
 * kill -9 under load: `messages` messages over `clients` connections (one
 * message per connection, a refused one tried again), while a random process
 * of the mail system is SIGKILLed every 0.3-1.0 s, every 10th time master
 * (which is then started again). Afterwards: how much was acknowledged, how
 * much of that reached the sink, lost, duplicated, and how long the queue
 * took to drain after the last kill.
 */
import { readFileSync } from 'node:fs';
import { childrenOf } from '../lib/instance.js';
import { message, sendOne } from './client.js';
import type { Random } from './random.js';
import type { Sink } from './sink.js';
import type { Target } from './targets.js';

export interface KillFigures {
  messages: number;
  acknowledged: number;
  failedAttempts: number;
  /** Why attempts failed (the refusal, or how the connection ended), by count. */
  failures: Record<string, number>;
  kills: number;
  /** Which processes were killed (master.cf command), by count. */
  killed: Record<string, number>;
  masterKills: number;
  loadSeconds: number;
  delivered: number;
  lost: number;
  duplicated: number;
  drainSeconds: number | null;
  queueEmpty: boolean;
}

export interface KillOptions {
  readonly messages: number;
  readonly clients: number;
  readonly size: number;
  /** The load stops here even if not everything was acknowledged (ms). */
  readonly loadLimit: number;
  /** How long to wait for the queue to drain after the last kill (ms). */
  readonly drainLimit: number;
}

function commandOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}

export async function killUnderLoad(target: Target, sink: Sink, rnd: Random, o: KillOptions): Promise<KillFigures> {
  const ids = Array.from({ length: o.messages }, (_, i) => `<kill-${i}-${rnd.int(1e9)}@chaos.test>`);
  const acked = new Set<string>();
  let failedAttempts = 0;
  const failures: Record<string, number> = {};
  const killed: Record<string, number> = {};
  let kills = 0;
  let masterKills = 0;
  let loadDone = false;
  let lastKill = Date.now();
  const started = Date.now();

  const killer = (async () => {
    while (!loadDone) {
      await new Promise((r) => setTimeout(r, 300 + rnd.int(700)));
      if (loadDone) break;
      const master = target.masterPid();
      if (!master) continue;
      kills++;
      lastKill = Date.now();
      if (kills % 10 === 0) {
        masterKills++;
        killed.master = (killed.master ?? 0) + 1;
        try {
          process.kill(master, 'SIGKILL');
        } catch {
          /* gone */
        }
        await new Promise((r) => setTimeout(r, 100));
        await target.start();
        continue;
      }
      const procs = childrenOf(master).filter((pid) => commandOf(pid) !== '');
      if (procs.length === 0) continue;
      const victim = procs[rnd.int(procs.length)]!;
      const cmd = commandOf(victim);
      // a process title (postern/smtpd -n ..., postern/spare) or, before it is set, master-child.js smtpd
      const name = /^postern\/([\w-]+)/.exec(cmd)?.[1] ?? /master-child\.js (\S+)/.exec(cmd)?.[1] ?? /^\S*?([\w-]+)(\s|$)/.exec(cmd)?.[1] ?? '?';
      killed[name] = (killed[name] ?? 0) + 1;
      try {
        process.kill(victim, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  })();

  let next = 0;
  const worker = async () => {
    while (Date.now() - started < o.loadLimit) {
      const i = next++;
      if (i >= ids.length) return;
      const id = ids[i]!;
      for (;;) {
        const r = await sendOne(target.smtpPort, 'load@chaos.test', 'sink@sink.test', message(id, o.size), 30_000);
        if (r.ok) {
          acked.add(id);
          break;
        }
        failedAttempts++;
        const why = r.why.replace(/^(\d{3}[ -]\d\.\d\.\d).*$/, '$1').slice(0, 40);
        failures[why] = (failures[why] ?? 0) + 1;
        if (Date.now() - started >= o.loadLimit) return;
        await new Promise((r2) => setTimeout(r2, 100));
      }
    }
  };
  await Promise.all(Array.from({ length: o.clients }, worker));
  loadDone = true;
  await killer;
  const loadSeconds = (Date.now() - started) / 1000;

  // drain: every acknowledged message at the sink and the queue empty
  let drainSeconds: number | null = null;
  let queueEmpty = false;
  const deadline = lastKill + o.drainLimit;
  while (Date.now() < deadline) {
    if ([...acked].every((id) => sink.received.has(id)) && (queueEmpty = await target.queueEmpty())) {
      drainSeconds = (Date.now() - lastKill) / 1000;
      break;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  if (drainSeconds === null) queueEmpty = await target.queueEmpty();
  let delivered = 0;
  let duplicated = 0;
  for (const id of ids) {
    const n = sink.received.get(id) ?? 0;
    if (n > 0) delivered++;
    if (n > 1) duplicated += n - 1;
  }
  const lost = [...acked].filter((id) => !sink.received.has(id)).length;
  return { messages: o.messages, acknowledged: acked.size, failedAttempts, failures, kills, killed, masterKills, loadSeconds, delivered, lost, duplicated, drainSeconds, queueEmpty };
}
