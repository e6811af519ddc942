/**
 * smtpd_per_request_deadline for message content (Postfix 3.7 vstream.c):
 * the DATA or BDAT request has smtpd_timeout in all; only the time spent
 * waiting for the client counts (not time the server spends elsewhere), and
 * each read of N bytes adds N/smtpd_min_data_rate seconds, never beyond
 * smtpd_timeout. A client that sends slower than the rate runs out of time.
 */
export class ContentDeadline {
  private budget = 0;
  private since = 0;
  private timer: NodeJS.Timeout | undefined;
  private active = false;

  constructor(
    /** smtpd_timeout in ms. */
    private readonly limitMs: number,
    /** smtpd_min_data_rate in bytes/second; 0: no increments. */
    private readonly rate: number,
    private readonly expired: () => void,
  ) {}

  /** A DATA or BDAT request begins: the full budget. */
  start(): void {
    this.stop();
    this.active = true;
    this.budget = this.limitMs;
  }

  /** The server is ready for more input: the clock runs. */
  wait(): void {
    if (!this.active || this.since) return;
    this.since = Date.now();
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.active) this.expired();
    }, Math.max(0, this.budget));
    this.timer.unref();
  }

  /** `n` bytes arrived: charge the wait, credit the bytes. */
  read(n: number): void {
    if (!this.active || !this.since) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.budget -= Date.now() - this.since;
    this.since = 0;
    if (this.rate > 0) this.budget = Math.min(this.limitMs, this.budget + (n * 1000) / this.rate);
  }

  /** The request's content is complete (or the client is gone). */
  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.active = false;
    this.since = 0;
  }
}
