/**
 * anvil's table of remote clients (anvil.c's anvil_remote_map) and its peak
 * statistics. Each client, keyed "service:address", has a concurrent
 * connection count and, for the current time unit, the number of
 * connections, messages, recipients, new TLS sessions and AUTH requests.
 *
 * - A rate window opens with the client's first event; an event later than
 *   window start + anvil_rate_time_unit resets every rate and opens a new window.
 * - A client whose connection count is zero is forgotten one time unit after
 *   it dropped to zero (or after its first event, if it never connected).
 * - Every count and rate, and the table's size, feeds a peak kept with the
 *   client and time it was reached; statusReport() logs the peaks as
 *   Postfix's "statistics: ..." lines and starts over.
 */
import {
  anvilIdent,
  syslogTime,
  type AnvilConnect,
  type AnvilLookup,
  type AnvilRate,
  type AnvilService,
  type AnvilStatus,
  type Logger,
} from '@postern/core';

type RateField = 'message' | 'recipient' | 'newtls' | 'auth';

interface Remote {
  count: number;
  rate: number;
  message: number;
  recipient: number;
  newtls: number;
  auth: number;
  /** When the current rate window opened (ms). */
  start: number;
  /** While count is zero: when the entry is forgotten (ms). */
  expires: number | undefined;
}

interface Peak {
  value: number;
  ident: string;
  when: number;
}

export interface AnvilTableOptions {
  /** anvil_rate_time_unit in milliseconds. */
  readonly timeUnit: number;
  readonly log: Logger;
  /** The clock (ms since the epoch); tests inject one. */
  readonly now?: () => number;
}

export class AnvilTable implements AnvilService {
  private readonly remotes = new Map<string, Remote>();
  private readonly now: () => number;
  readonly peaks: Record<'rate' | 'count' | RateField, Peak> = {
    rate: { value: 0, ident: '', when: 0 },
    count: { value: 0, ident: '', when: 0 },
    message: { value: 0, ident: '', when: 0 },
    recipient: { value: 0, ident: '', when: 0 },
    newtls: { value: 0, ident: '', when: 0 },
    auth: { value: 0, ident: '', when: 0 },
  };
  private maxCache = { value: 0, when: 0 };

  constructor(private readonly options: AnvilTableOptions) {
    this.now = options.now ?? Date.now;
  }

  /** How many clients the table holds now. */
  get size(): number {
    return this.remotes.size;
  }

  /** The live entry for `ident`, dropping it first when it has expired. */
  private find(ident: string, now: number): Remote | undefined {
    const r = this.remotes.get(ident);
    if (r && r.count === 0 && r.expires !== undefined && now >= r.expires) {
      this.remotes.delete(ident);
      return undefined;
    }
    return r;
  }

  /** Finds or creates the entry, opening a new rate window when the old one is over. */
  private touch(ident: string, now: number): Remote {
    let r = this.find(ident, now);
    if (!r) {
      r = { count: 0, rate: 0, message: 0, recipient: 0, newtls: 0, auth: 0, start: now, expires: now + this.options.timeUnit };
      this.remotes.set(ident, r);
      if (this.remotes.size > this.maxCache.value) this.maxCache = { value: this.remotes.size, when: now };
    } else if (r.start + this.options.timeUnit < now) {
      r.rate = r.message = r.recipient = r.newtls = r.auth = 0;
      r.start = now;
    }
    return r;
  }

  private peak(name: keyof AnvilTable['peaks'], value: number, ident: string, now: number): void {
    const p = this.peaks[name];
    if (value > p.value) {
      p.value = value;
      p.ident = ident;
      p.when = now;
    }
  }

  async connect(service: string, client: string): Promise<AnvilConnect> {
    const ident = anvilIdent(service, client);
    const now = this.now();
    const r = this.touch(ident, now);
    r.count += 1;
    r.rate += 1;
    r.expires = undefined;
    this.peak('rate', r.rate, ident, now);
    this.peak('count', r.count, ident, now);
    if (this.options.log.verbose) this.options.log.debug(`connect: ident=${ident} count=${r.count} rate=${r.rate}`);
    return { status: 'ok', count: r.count, rate: r.rate };
  }

  async disconnect(service: string, client: string): Promise<AnvilStatus> {
    const ident = anvilIdent(service, client);
    const now = this.now();
    const r = this.find(ident, now);
    if (r && r.count > 0) {
      r.count -= 1;
      if (r.count === 0) r.expires = now + this.options.timeUnit;
    }
    return 'ok';
  }

  private event(field: RateField, service: string, client: string): AnvilRate {
    const ident = anvilIdent(service, client);
    const now = this.now();
    const r = this.touch(ident, now);
    r[field] += 1;
    this.peak(field, r[field], ident, now);
    return { status: 'ok', rate: r[field] };
  }

  async message(service: string, client: string): Promise<AnvilRate> {
    return this.event('message', service, client);
  }
  async recipient(service: string, client: string): Promise<AnvilRate> {
    return this.event('recipient', service, client);
  }
  async newtls(service: string, client: string): Promise<AnvilRate> {
    return this.event('newtls', service, client);
  }
  async auth(service: string, client: string): Promise<AnvilRate> {
    return this.event('auth', service, client);
  }

  async newtlsReport(service: string, client: string): Promise<AnvilRate> {
    const now = this.now();
    const r = this.find(anvilIdent(service, client), now);
    return { status: 'ok', rate: r && r.start + this.options.timeUnit >= now ? r.newtls : 0 };
  }

  async lookup(service: string, client: string): Promise<AnvilLookup> {
    const now = this.now();
    const r = this.find(anvilIdent(service, client), now);
    if (!r) return { status: 'ok', count: 0, rate: 0, message: 0, recipient: 0, newtls: 0, auth: 0 };
    const live = r.start + this.options.timeUnit >= now;
    return {
      status: 'ok',
      count: r.count,
      rate: live ? r.rate : 0,
      message: live ? r.message : 0,
      recipient: live ? r.recipient : 0,
      newtls: live ? r.newtls : 0,
      auth: live ? r.auth : 0,
    };
  }

  /** Forgets every client whose time is up (anvil_remote_expire). */
  expire(): void {
    const now = this.now();
    for (const [ident, r] of this.remotes) {
      if (r.count === 0 && r.expires !== undefined && now >= r.expires) this.remotes.delete(ident);
    }
  }

  /**
   * anvil_status_dump(): logs each peak reached since the last report as
   * Postfix does, resets it, and returns the lines logged.
   */
  statusReport(): string[] {
    const unit = Math.round(this.options.timeUnit / 1000);
    const at = (when: number) => syslogTime(new Date(when));
    const lines: string[] = [];
    const rate = (name: keyof AnvilTable['peaks'], label: string) => {
      const p = this.peaks[name];
      if (p.value > 0) lines.push(`statistics: max ${label} rate ${p.value}/${unit}s for (${p.ident}) at ${at(p.when)}`);
    };
    rate('rate', 'connection');
    const c = this.peaks.count;
    if (c.value > 0) lines.push(`statistics: max connection count ${c.value} for (${c.ident}) at ${at(c.when)}`);
    rate('message', 'message');
    rate('recipient', 'recipient');
    rate('newtls', 'newtls');
    rate('auth', 'auth');
    if (this.maxCache.value > 0) lines.push(`statistics: max cache size ${this.maxCache.value} at ${at(this.maxCache.when)}`);
    for (const p of Object.values(this.peaks)) p.value = 0;
    this.maxCache = { value: 0, when: 0 };
    for (const line of lines) this.options.log.info(line);
    return lines;
  }
}
