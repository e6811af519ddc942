/**
 * NAME
 *   qshape - print Postern queue domain and age distribution (qshape(1))
 *
 * SYNOPSIS
 *   qshape [-s] [-p] [-m min_subdomains] [-l] [-b bucket_count]
 *          [-t bucket_time] [-w terminal_width] [-N batch_msg_count]
 *          [-n batch_top_domains] [-c config_directory] [queue_name ...]
 *   postern qshape ...
 *
 * DESCRIPTION
 *   For each queue named (default: incoming and active) every message is read
 *   through the queue store (so LMDB and Redis queues alike) and each
 *   recipient not yet delivered is counted under its domain, in the column of
 *   the message's age. The table is Postfix's qshape layout: a header of
 *   bucket upper bounds in minutes ("T" for the total column), then TOTAL and
 *   one line per domain, most addresses first, domains right-aligned in what
 *   the columns leave of the terminal width (at least 18 characters; a longer
 *   name is cut from the left and marked with "+").
 *
 *   -s      count the sender domain of each message instead of recipients
 *           (the null sender shows as MAILER-DAEMON).
 *   -p      also count parent domains (".example.com"), shown when at least
 *           min_subdomains (-m, default 5) of their subdomains are listed.
 *   -b n    number of age buckets (default 10).
 *   -t m    the first bucket's width in minutes (default 5); bucket k holds
 *           ages [t*2^(k-2), t*2^(k-1)), the last everything older.
 *   -l      linear buckets: [0,t), [t,2t), [2t,3t), ...
 *   -w n    terminal width, when more than 80.
 *   -N, -n  accepted: interim results are a terminal feature of the Perl
 *           script; Postern prints the table once.
 *   -c dir  the configuration directory.
 *
 *   A queue name that is an absolute path (a Postfix queue directory) is not
 *   supported: Postern's queues are names in the queue store.
 */
import { QUEUE, isQueueName, type QueueName } from '@postern/core';
import type { CommandIo } from '../io.js';
import { getopt, hasOpt, optValue } from '../getopt.js';
import { commandQueueStore, loadCommandConfig } from './queue.js';

const PROGRAM = 'qshape';
const USAGE =
  `Usage: ${PROGRAM} [ -s ] [ -p ] [ -m <min_subdomains> ] [ -l ]\n` +
  '\t[ -b <bucket_count> ] [ -t <bucket_time> ] [ -w <terminal_width> ]\n' +
  '\t[ -N <batch_msg_count> ] [ -n <batch_top_domains> ]\n' +
  '\t[ -c <config_directory> ] [ <queue_name> ... ]\n';

export interface ShapeOptions {
  readonly senders: boolean;
  readonly parents: boolean;
  readonly linear: boolean;
  readonly buckets: number;
  readonly tick: number;
  readonly minSub: number;
  readonly width: number;
}

export const SHAPE_DEFAULTS: ShapeOptions = { senders: false, parents: false, linear: false, buckets: 10, tick: 5, minSub: 5, width: 80 };

/** The counts of one qshape run: per domain, [total, bucket 1..n]. */
export class Shape {
  private readonly counts = new Map<string, number[]>();
  private readonly subdomains = new Map<string, number>();

  constructor(
    private readonly o: ShapeOptions,
    private readonly now: number,
  ) {}

  private bucket(arrival: number): number {
    const m = (this.now - arrival) / (60 * this.o.tick);
    if (m < 1) return 1;
    const b = this.o.linear ? Math.floor(m + 1) : 2 + Math.floor(Math.log(m) / Math.log(2));
    return b < this.o.buckets ? b : this.o.buckets;
  }

  private bump(key: string, b: number): boolean {
    let c = this.counts.get(key);
    if (!c) this.counts.set(key, (c = new Array<number>(this.o.buckets + 1).fill(0)));
    c[0]!++;
    c[b]!++;
    return c[0]! > 1;
  }

  /** Counts one message: `addresses` are its recipients (or sender, with -s); arrival in seconds. */
  add(arrival: number, addresses: readonly string[]): void {
    const b = this.bucket(arrival);
    for (const address of addresses) {
      this.bump('TOTAL', b);
      let a = address.toLowerCase();
      if (a === '') a = 'MAILER-DAEMON';
      a = a.replace(/.*@/, '').replace(/\.\./g, '.').replace(/^\.?(.+?)\.?$/, '$1');
      let isNew = false;
      for (;;) {
        const old = this.bump(a, b);
        if (isNew) this.subdomains.set(a, (this.subdomains.get(a) ?? 0) + 1);
        isNew = !old;
        if (!this.o.parents) break;
        const parent = /^\.?[^.]+\.(.*\.)/.exec(a);
        if (!parent) break;
        a = `.${parent[1]!}${a.slice(parent[0].length)}`;
      }
    }
  }

  /** The table, as qshape prints it. */
  format(): string {
    const { buckets, tick, linear } = this.o;
    const total = this.counts.get('TOTAL') ?? new Array<number>(buckets + 1).fill(0);
    const heads: string[] = [];
    const widths: number[] = [];
    let dw = this.o.width;
    let t = 0;
    let label = '';
    for (let i = 0; i <= buckets; ) {
      const h = i === 0 ? 'T' : label || String(t);
      let l = Math.max(String(total[i] ?? 0).length, h.length);
      l = l > 2 ? l + 1 : 3;
      heads.push(h);
      widths.push(l);
      dw -= l;
      if (++i < buckets) t += t && !linear ? t : tick;
      else label = `${t}+`;
    }
    if (dw < 18) dw = 18;
    const row = (name: string, cells: readonly (string | number)[]): string => {
      let d: string;
      if (name.length > dw) d = name.startsWith('.') ? `.+${name.slice(name.length - dw + 2)}` : `+${name.slice(name.length - dw + 1)}`;
      else d = name.padStart(dw);
      return d + cells.map((c, i) => String(c).padStart(widths[i]!)).join('') + '\n';
    };
    let out = row('', heads);
    const names = [...this.counts.keys()].sort((x, y) => this.counts.get(y)![0]! - this.counts.get(x)![0]! || x.length - y.length || (x < y ? -1 : x > y ? 1 : 0));
    for (const d of names) {
      if (d.startsWith('.') && (this.subdomains.get(d) ?? 0) < this.o.minSub) continue;
      out += row(d, this.counts.get(d)!);
    }
    return out;
  }
}

/** `qshape` / `postern qshape`: returns the exit status. */
export async function qshapeCommand(argv: string[], io: CommandIo): Promise<number> {
  let p;
  try {
    p = getopt(argv, 'lhc:psw:b:t:m:n:N:');
  } catch (err) {
    io.stderr.write(`${PROGRAM}: ${(err as Error).message}\n${USAGE}`);
    return 255;
  }
  if (hasOpt(p, 'h')) {
    io.stderr.write(USAGE);
    return 255;
  }
  const num = (c: string, min: number): number | undefined => {
    const v = Number(optValue(p, c));
    return Number.isFinite(v) && v > min ? v : undefined;
  };
  const o: ShapeOptions = {
    senders: hasOpt(p, 's'),
    parents: hasOpt(p, 'p'),
    linear: hasOpt(p, 'l'),
    buckets: num('b', 0) ?? SHAPE_DEFAULTS.buckets,
    tick: num('t', 0) ?? SHAPE_DEFAULTS.tick,
    minSub: num('m', 0) ?? SHAPE_DEFAULTS.minSub,
    width: num('w', 80) ?? SHAPE_DEFAULTS.width,
  };
  const queues: QueueName[] = [];
  for (const name of p.args.length > 0 ? p.args : [QUEUE.INCOMING, QUEUE.ACTIVE]) {
    if (!isQueueName(name)) {
      io.stderr.write(`${PROGRAM}: unknown queue: ${name} (Postern queues: incoming, active, deferred, hold, maildrop, corrupt)\n`);
      return 1;
    }
    queues.push(name);
  }
  let store;
  try {
    store = commandQueueStore(await loadCommandConfig(optValue(p, 'c'), io));
  } catch (err) {
    io.stderr.write(`${PROGRAM}: ${(err as Error).message}\n`);
    return 1;
  }
  try {
    const shape = new Shape(o, Math.floor(Date.now() / 1000));
    for (const queue of queues) {
      for await (const msg of store.scan(queue)) {
        // As qshape reads a queue file: only recipients not yet done, and no message without one.
        const pending = msg.recipients.filter((r) => !r.done).map((r) => r.address);
        if (pending.length > 0) shape.add(Math.floor(msg.arrivalTime / 1000), o.senders ? [msg.sender] : pending);
      }
    }
    io.stdout.write(shape.format());
    return 0;
  } finally {
    await store.close();
  }
}
