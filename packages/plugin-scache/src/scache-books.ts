/**
 * scache's shared books (Postfix's scache_multi.c and the statistics of
 * scache.c): which sessions are parked under which destination and endpoint
 * labels, by which process, until when; lookup hits and misses; the most
 * labels and sessions held at once.
 */
import type { ScacheDropArgs, ScacheFindArgs, ScacheFindReply, ScacheSaveArgs, ScacheSaveReply, SessionCacheKind } from '@postern/core';

interface Parked {
  readonly owner: string;
  readonly pid: number;
  readonly expires: number;
  readonly labels: readonly { kind: SessionCacheKind; label: string }[];
}

export interface ScacheCounters {
  destHits: number;
  destMiss: number;
  endpHits: number;
  endpMiss: number;
  /** Misses while another process had a session parked under the label. */
  destElsewhere: number;
  endpElsewhere: number;
  maxDest: number;
  maxEndp: number;
  maxSess: number;
}

const zero = (): ScacheCounters => ({ destHits: 0, destMiss: 0, endpHits: 0, endpMiss: 0, destElsewhere: 0, endpElsewhere: 0, maxDest: 0, maxEndp: 0, maxSess: 0 });

export class ScacheBooks {
  private readonly sessions = new Map<string, Parked>();
  private readonly byLabel: Record<SessionCacheKind, Map<string, Set<string>>> = { dest: new Map(), endp: new Map() };
  private counters = zero();
  private started: number;

  /** @param ttlLimit connection_cache_ttl_limit, seconds */
  constructor(
    private readonly ttlLimit: number,
    private readonly now: () => number = Date.now,
  ) {
    this.started = now();
  }

  save(a: ScacheSaveArgs): ScacheSaveReply {
    const ttl = this.ttlLimit > 0 ? Math.min(a.ttl, this.ttlLimit) : a.ttl;
    this.drop({ owner: a.owner });
    const pid = Number(a.owner.split(':')[0]) || 0;
    this.sessions.set(a.owner, { owner: a.owner, pid, expires: this.now() + ttl * 1000, labels: a.labels });
    for (const { kind, label } of a.labels) {
      let set = this.byLabel[kind].get(label);
      if (!set) this.byLabel[kind].set(label, (set = new Set()));
      set.add(a.owner);
    }
    const c = this.counters;
    c.maxDest = Math.max(c.maxDest, this.byLabel.dest.size);
    c.maxEndp = Math.max(c.maxEndp, this.byLabel.endp.size);
    c.maxSess = Math.max(c.maxSess, this.sessions.size);
    return { ttl };
  }

  find(a: ScacheFindArgs): ScacheFindReply {
    this.expire();
    if (a.want) return this.handOut(a);
    const hit = a.owner !== undefined && this.sessions.has(a.owner);
    if (a.owner) this.drop({ owner: a.owner });
    let elsewhere = 0;
    for (const o of this.byLabel[a.kind].get(a.label) ?? []) if (this.sessions.get(o)?.pid !== a.pid) elsewhere++;
    const c = this.counters;
    if (a.kind === 'dest') {
      if (hit) c.destHits++;
      else {
        c.destMiss++;
        if (elsewhere) c.destElsewhere++;
      }
    } else if (hit) c.endpHits++;
    else {
      c.endpMiss++;
      if (elsewhere) c.endpElsewhere++;
    }
    return { hit, elsewhere };
  }

  /**
   * A process missed locally and asks for a session another process parked
   * under the label: scache names one (the asker fetches it from its process
   * through master) and takes it off the books. The asker's lookup just
   * counted as a miss becomes a hit.
   */
  private handOut(a: ScacheFindArgs): ScacheFindReply {
    const owners = [...(this.byLabel[a.kind].get(a.label) ?? [])].filter((o) => this.sessions.get(o)?.pid !== a.pid);
    const owner = owners[0];
    if (!owner) return { hit: false, elsewhere: 0 };
    this.drop({ owner });
    const c = this.counters;
    if (a.kind === 'dest') {
      c.destHits++;
      c.destMiss = Math.max(0, c.destMiss - 1);
      c.destElsewhere = Math.max(0, c.destElsewhere - 1);
    } else {
      c.endpHits++;
      c.endpMiss = Math.max(0, c.endpMiss - 1);
      c.endpElsewhere = Math.max(0, c.endpElsewhere - 1);
    }
    return { hit: true, elsewhere: owners.length - 1, owner };
  }

  drop(a: ScacheDropArgs): void {
    const p = this.sessions.get(a.owner);
    if (!p) return;
    this.sessions.delete(a.owner);
    for (const { kind, label } of p.labels) {
      const set = this.byLabel[kind].get(label);
      set?.delete(a.owner);
      if (set && set.size === 0) this.byLabel[kind].delete(label);
    }
  }

  /** Forgets sessions past their time (their process ends them too). */
  expire(): void {
    const t = this.now();
    for (const p of [...this.sessions.values()]) if (p.expires <= t) this.drop({ owner: p.owner });
  }

  get size(): number {
    return this.sessions.size;
  }

  /** The statistics lines Postfix's scache logs, and a reset (scache_status_dump). */
  statusDump(): string[] {
    const c = this.counters;
    const out: string[] = [];
    if (c.destHits || c.destMiss || c.endpHits || c.endpMiss || c.maxDest || c.maxEndp || c.maxSess) {
      out.push(`statistics: start interval ${new Date(this.started).toString().slice(4, 10).replace(/ 0(\d)$/, '  $1')} ${new Date(this.started).toTimeString().slice(0, 8)}`);
    }
    if (c.destHits || c.destMiss) {
      out.push(`statistics: domain lookup hits=${c.destHits} miss=${c.destMiss} success=${Math.floor((c.destHits * 100) / (c.destHits + c.destMiss))}%`);
    }
    if (c.endpHits || c.endpMiss) {
      out.push(`statistics: address lookup hits=${c.endpHits} miss=${c.endpMiss} success=${Math.floor((c.endpHits * 100) / (c.endpHits + c.endpMiss))}%`);
    }
    if (c.maxDest || c.maxEndp || c.maxSess) {
      out.push(`statistics: max simultaneous domains=${c.maxDest} addresses=${c.maxEndp} connection=${c.maxSess}`);
    }
    if (c.destElsewhere || c.endpElsewhere) {
      out.push(`statistics: lookup misses with a session in another process domain=${c.destElsewhere} address=${c.endpElsewhere}`);
    }
    this.counters = zero();
    this.started = this.now();
    return out;
  }

  /** The counters of the current interval (tests, status). */
  get stats(): Readonly<ScacheCounters> {
    return { ...this.counters };
  }
}
