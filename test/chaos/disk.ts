/**
 * A full disk: the queue on a small tmpfs, the sink deferring (so mail stays
 * queued), `messages` messages of `size` bytes over 4 clients until the disk
 * is full. Then the sink accepts, the queue is flushed, and the suite
 * measures how soon a new message is accepted again and whether every
 * acknowledged message arrives. Crashes are the processes the log reports
 * as having died (Postfix's and Postern's "process ... pid N exit status /
 * killed by signal" warnings, and fatal errors).
 */
import { message, sendOne } from './client.js';
import type { Sink } from './sink.js';
import type { Target } from './targets.js';

export interface DiskFigures {
  attempted: number;
  acknowledged: number;
  refused: Record<string, number>;
  crashes: number;
  acceptAgainSeconds: number | null;
  delivered: number;
  lost: number;
}

const CRASH = /(warning: process \S+ pid \d+ (exit status [1-9]|killed by signal))|(fatal: )/;

export async function fullDisk(target: Target, sink: Sink, o: { messages: number; size: number; drainLimit: number }): Promise<DiskFigures> {
  sink.deferring = true;
  const logBefore = target.log().length;
  const acked = new Set<string>();
  const refused: Record<string, number> = {};
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < o.messages; i = next++) {
      const id = `<disk-${i}@chaos.test>`;
      const r = await sendOne(target.smtpPort, 'disk@chaos.test', 'sink@sink.test', message(id, o.size), 30_000);
      if (r.ok) acked.add(id);
      else {
        const key = r.why.replace(/^(\d{3} \d\.\d\.\d [^:]*).*$/, '$1').slice(0, 60);
        refused[key] = (refused[key] ?? 0) + 1;
      }
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  // space comes back as the queue drains
  sink.deferring = false;
  const freed = Date.now();
  await target.flush();
  let acceptAgainSeconds: number | null = null;
  for (let n = 0; Date.now() - freed < o.drainLimit; n++) {
    const id = `<disk-probe-${n}@chaos.test>`;
    const r = await sendOne(target.smtpPort, 'disk@chaos.test', 'sink@sink.test', message(id, o.size), 10_000);
    if (r.ok) {
      acked.add(id);
      acceptAgainSeconds = (Date.now() - freed) / 1000;
      break;
    }
    await new Promise((r2) => setTimeout(r2, 250));
  }
  const deadline = Date.now() + o.drainLimit;
  while (Date.now() < deadline && ![...acked].every((id) => sink.received.has(id))) {
    await new Promise((r) => setTimeout(r, 500));
    if (Date.now() % 5000 < 500) await target.flush();
  }
  const crashes = target.log().slice(logBefore).split('\n').filter((l) => CRASH.test(l)).length;
  const delivered = [...acked].filter((id) => sink.received.has(id)).length;
  return { attempted: o.messages, acknowledged: acked.size, refused, crashes, acceptAgainSeconds, delivered, lost: acked.size - delivered };
}
