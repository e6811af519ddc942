/**
 * verify(8) - Postfix address verification server
 *
 * SYNOPSIS
 *   master.cf:  verify  unix - - y - 1 verify
 *
 * DESCRIPTION
 *   Maintains the address verification cache: per address, whether a probe
 *   message found it deliverable, undeliverable, or not yet known. smtpd's
 *   reject_unverified_recipient / reject_unverified_sender query it; the
 *   delivery agents update it with the outcome of probe deliveries (messages
 *   with the verify trace flag are recorded, never delivered).
 *
 *   When a query finds no usable entry, or the entry is due for a refresh,
 *   the server submits a probe message through cleanup(8): sender
 *   $address_verify_sender, the address as only recipient, trace flag
 *   "probe" (Postfix DEL_REQ_FLAG_MTA_VRFY), origin "verify", no content. A probe is considered lost after
 *   1000 seconds (PROBE_TTL) and may then be sent again. An update with a
 *   failure does not overwrite a deliverable entry before it expires, so one
 *   failed probe does not evict a good address.
 *
 * PROTOCOL
 *   IPC calls (the VerifyService contract of @postern/core):
 *     query  { address }               -> { status, text }
 *     update { address, status, text } -> true | false (bad status)
 *   status is deliverable, undeliverable or undetermined.
 *
 * CONFIGURATION PARAMETERS
 *   address_verify_map                     (btree:$data_directory/verify_cache; empty: memory)
 *   address_verify_sender                  ($double_bounce_sender)
 *   address_verify_positive_expire_time    (31d)
 *   address_verify_positive_refresh_time   (7d)
 *   address_verify_negative_expire_time    (3d)
 *   address_verify_negative_refresh_time   (3h)
 *   address_verify_negative_cache          (yes)
 *   address_verify_cache_cleanup_interval  (12h)
 *   address_verify_pending_request_limit   (5000)
 *
 * SECURITY
 *   The cache holds untrusted addresses and texts; it is written only by
 *   this process. Probes are never delivered: the verify trace flag makes
 *   qmgr and the delivery agents report instead of deliver.
 */
import {
  CLEANUP,
  inject,
  injectable,
  isVerifyStatus,
  serveVerify,
  TABLES,
  use,
  type CleanupService,
  type ConfigView,
  type Logger,
  type ServiceMain,
  type VerifyResult,
  type VerifyService,
  type VerifyStatus,
} from '@postern/core';
import { formatEntry, MemoryVerifyStore, parseEntry, RCPT_STAT, TableVerifyStore, type RcptStat, type VerifyStore } from './verify-cache.js';

/** Seconds after which an unanswered probe is assumed lost. */
export const PROBE_TTL = 1000;

export const IN_PROGRESS = 'Address verification in progress';

export interface VerifyTimes {
  /** address_verify_positive_expire_time, seconds. */
  readonly positiveExpire: number;
  readonly positiveRefresh: number;
  readonly negativeExpire: number;
  readonly negativeRefresh: number;
}

export interface VerifyOptions {
  readonly store: VerifyStore;
  readonly times: VerifyTimes;
  readonly negativeCache: boolean;
  /** address_verify_pending_request_limit: outstanding probes at most. */
  readonly pendingLimit: number;
  /** Submits a probe for the address (not awaited by query). */
  readonly probe: (address: string) => Promise<void>;
  readonly log: Logger;
  /** Milliseconds since the epoch (tests inject a clock). */
  readonly now?: () => number;
}

const STATUS_OF: Readonly<Record<RcptStat, VerifyStatus>> = {
  [RCPT_STAT.OK]: 'deliverable',
  [RCPT_STAT.DEFER]: 'undetermined',
  [RCPT_STAT.BOUNCE]: 'undeliverable',
  [RCPT_STAT.TODO]: 'undetermined',
};

const STAT_OF: Readonly<Record<VerifyStatus, RcptStat>> = {
  deliverable: RCPT_STAT.OK,
  undetermined: RCPT_STAT.DEFER,
  undeliverable: RCPT_STAT.BOUNCE,
};

/** The cache key: ":" in address literals becomes "_" (verify.c translit). */
export const cacheKey = (address: string): string => address.replace(/:/g, '_');

/** The verify(8) server logic over a record store. */
export class AddressVerifier implements VerifyService {
  /** Probes sent and not yet answered: key -> when sent (seconds). */
  private readonly pending = new Map<string, number>();
  private readonly probes = new Set<Promise<void>>();

  constructor(private readonly o: VerifyOptions) {}

  private now(): number {
    return Math.floor((this.o.now ?? Date.now)() / 1000);
  }

  private expired(status: RcptStat, updated: number, now: number): boolean {
    return status === RCPT_STAT.OK ? updated + this.o.times.positiveExpire < now : updated + this.o.times.negativeExpire < now;
  }

  async query(address: string): Promise<VerifyResult> {
    const key = cacheKey(address);
    const now = this.now();
    const { times, negativeCache, store } = this.o;
    const raw = await store.get(key);
    let entry = raw === undefined ? undefined : parseEntry(raw);
    if (entry === undefined || (now - entry.probed > PROBE_TTL && this.expired(entry.status, entry.updated, now))) {
      entry = { status: RCPT_STAT.TODO, probed: 0, updated: 0, text: IN_PROGRESS };
      if (raw !== undefined && !negativeCache) await store.delete(key);
    }
    const result: VerifyResult = { status: STATUS_OF[entry.status], text: entry.text };

    const refresh =
      entry.status === RCPT_STAT.OK ? entry.updated + times.positiveRefresh < now : entry.updated + times.negativeRefresh < now;
    if (now - entry.probed > PROBE_TTL && refresh && this.mayProbe(key, now)) {
      this.sendProbe(address, key, now);
      if (entry.updated !== 0 || negativeCache) {
        await store.put(key, formatEntry({ status: entry.status, probed: now, updated: entry.updated, text: entry.text }));
      }
    }
    return result;
  }

  async update(address: string, status: VerifyStatus, text: string): Promise<boolean> {
    if (!isVerifyStatus(status)) {
      this.o.log.warn(`bad recipient status ${String(status)} for recipient ${address}`);
      return false;
    }
    const key = cacheKey(address);
    const stat = STAT_OF[status];
    this.pending.delete(key);
    // a failed probe does not clobber an OK address before it expires
    if (stat !== RCPT_STAT.OK) {
      const raw = await this.o.store.get(key);
      const old = raw === undefined ? undefined : parseEntry(raw);
      if (old?.status === RCPT_STAT.OK) return true;
    }
    await this.o.store.put(key, formatEntry({ status: stat, probed: 0, updated: this.now(), text }));
    return true;
  }

  /** address_verify_pending_request_limit: forget lost probes, then count. */
  private mayProbe(key: string, now: number): boolean {
    for (const [k, sent] of this.pending) if (now - sent > PROBE_TTL) this.pending.delete(k);
    if (this.pending.has(key) || this.pending.size < this.o.pendingLimit) return true;
    this.o.log.warn(`address verification probe for ${key} postponed: ${this.pending.size} probes pending (address_verify_pending_request_limit)`);
    return false;
  }

  private sendProbe(address: string, key: string, now: number): void {
    this.pending.set(key, now);
    const p = this.o
      .probe(address)
      .catch((err: unknown) => {
        this.pending.delete(key);
        this.o.log.warn(`address verification probe for ${address} not queued: ${err instanceof Error ? err.message : String(err)}`);
      })
      .finally(() => this.probes.delete(p));
    this.probes.add(p);
  }

  /** Resolves when the probes submitted so far have been handed to cleanup (or failed). */
  async settled(): Promise<void> {
    while (this.probes.size > 0) await Promise.all([...this.probes]);
  }

  /** verify_cache_validator(): deletes malformed and expired entries without a probe in flight. */
  async cleanup(): Promise<{ retained: number; dropped: number }> {
    const now = this.now();
    const doomed: string[] = [];
    let retained = 0;
    for await (const [key, raw] of this.o.store.entries()) {
      const e = parseEntry(raw);
      if (e === undefined || (now - e.probed >= PROBE_TTL && this.expired(e.status, e.updated, now))) doomed.push(key);
      else retained++;
    }
    for (const key of doomed) await this.o.store.delete(key);
    return { retained, dropped: doomed.length };
  }
}

/** make_verify_sender_addr(): "<>" or empty is the null sender. */
export function verifySender(config: ConfigView): string {
  const s = config.get('address_verify_sender').trim();
  return s === '<>' ? '' : s;
}

/** A probe through cleanup: verify trace flag, no content (never delivered). */
export function cleanupProber(config: ConfigView, cleanup: CleanupService): (address: string) => Promise<void> {
  return async (address) => {
    const result = await cleanup.submit(
      { sender: verifySender(config), recipients: [{ address }], origin: 'verify', traceFlags: ['probe'] },
      (async function* () {})(),
    );
    if (result.status !== 'queued') throw new Error(`${result.code} ${result.dsn} ${result.text}`);
  };
}

/** The verifier a service process runs with its configuration. */
export function verifierFromConfig(
  config: ConfigView,
  store: VerifyStore,
  log: Logger,
  probe: (address: string) => Promise<void>,
  now?: () => number,
): AddressVerifier {
  return new AddressVerifier({
    store,
    times: {
      positiveExpire: config.time('address_verify_positive_expire_time'),
      positiveRefresh: config.time('address_verify_positive_refresh_time'),
      negativeExpire: config.time('address_verify_negative_expire_time'),
      negativeRefresh: config.time('address_verify_negative_refresh_time'),
    },
    negativeCache: config.bool('address_verify_negative_cache'),
    pendingLimit: config.int('address_verify_pending_request_limit'),
    probe,
    log,
    now,
  });
}

/** What verify takes from its container: cleanup, for the probes. */
@injectable()
export class VerifyServices {
  constructor(@inject(CLEANUP) readonly cleanup: CleanupService) {}
}

export const main: ServiceMain = async (ctx) => {
  const { config, log } = ctx;
  const map = config.get('address_verify_map').trim();
  const store = map === '' ? new MemoryVerifyStore() : new TableVerifyStore(use(ctx.container, TABLES).open(map));
  const verifier = verifierFromConfig(config, store, log, cleanupProber(config, ctx.container.resolve(VerifyServices).cleanup));
  const served = serveVerify(ctx, verifier);
  const interval = config.time('address_verify_cache_cleanup_interval');
  const timer =
    interval > 0
      ? setInterval(() => {
          verifier.cleanup().then(
            (r) => log.info(`cache ${map || 'internal:verify'} full cleanup: retained=${r.retained} dropped=${r.dropped} entries`),
            (err: unknown) => log.warn(`cache cleanup: ${err instanceof Error ? err.message : String(err)}`),
          );
        }, interval * 1000)
      : undefined;
  timer?.unref();
  return {
    async stop(graceful: boolean) {
      if (timer) clearInterval(timer);
      await served.stop(graceful);
      await verifier.settled();
    },
  };
};
