/**
 * metrics - Prometheus metrics of the Postern mail system
 *
 * SYNOPSIS
 *   master.cf: 127.0.0.1:9154 inet n - n - 1 metrics
 *
 * DESCRIPTION
 *   The metrics service answers HTTP GET on metrics_path (default /metrics)
 *   with the Prometheus text exposition format. It is what postfix_exporter
 *   is to Postfix, built in: it follows the mail log (metrics_log_file,
 *   default $maillog_file) from the moment it starts, and counts
 *   connections, rejections by stage, code and reason, messages received
 *   and removed, deliveries by transport and status with the delay and
 *   delays= stages as histograms, and service processes that died; on each
 *   scrape it reads the lines logged up to then and the size of every queue
 *   from the queue store. Metric names are postfix_exporter's where the two
 *   overlap (postfix_smtpd_connects_total, postfix_smtp_delivery_delay_seconds
 *   ...), so its dashboards work; the others are postern_*.
 *
 *   Counters count from the start of the service process, as Prometheus
 *   counters do; master starts the process on the first scrape and keeps it
 *   (a long-running daemon: max_idle and max_use do not recycle it). Run one
 *   process (maxproc 1): each process counts on its own.
 *
 * CONFIGURATION PARAMETERS
 *   metrics_log_file ($maillog_file)  the log to follow; empty: queue sizes only
 *   metrics_path (/metrics)
 *   metrics_poll_interval (1s)  how often the log is read between scrapes
 *
 * SECURITY
 *   The exposition reveals traffic figures and reject reasons, no message
 *   content or addresses; listen on loopback (or behind a firewall) as the
 *   example line does. Requests other than GET are answered 405, other paths
 *   404; the request body is not read.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { Registry } from 'prom-client';
import { QUEUE_NAMES, QUEUE_STORE, use, type QueueStore, type ServiceContext, type ServiceInstance, type ServiceMain } from '@postern/core';
import { LogFollower } from './metrics-tail.js';
import { createFamilies, type MetricsFamilies } from './metrics-registry.js';
import { observeLine } from './metrics-log.js';

/** The registry, its families and the log follower of one metrics service. */
export class MetricsCollector {
  readonly registry = new Registry();
  readonly families: MetricsFamilies = createFamilies(this.registry);
  private readonly follower: LogFollower | undefined;

  constructor(
    private readonly store: QueueStore,
    readonly logFile: string,
  ) {
    this.follower = logFile ? new LogFollower(logFile, (line) => observeLine(this.families, line)) : undefined;
  }

  /** Reads the log lines written so far (the follower starts at the file's end on its first read). */
  poll(): Promise<void> {
    return this.follower?.poll() ?? Promise.resolve();
  }

  /** The exposition: the log read up to now, and the queue sizes of this moment. */
  async render(): Promise<string> {
    await this.poll();
    let up = 1;
    for (const queue of QUEUE_NAMES) {
      try {
        this.families.queueMessages.set({ queue }, await this.store.count(queue));
      } catch {
        up = 0;
      }
    }
    this.families.up.set({ path: this.logFile }, up);
    return this.registry.metrics();
  }

  close(): Promise<void> {
    return this.follower?.close() ?? Promise.resolve();
  }
}

export const main: ServiceMain = async (ctx: ServiceContext): Promise<ServiceInstance> => {
  const collector = new MetricsCollector(use(ctx.container, QUEUE_STORE), ctx.config.get('metrics_log_file'));
  const path = ctx.config.get('metrics_path') || '/metrics';
  const report = (err: unknown) => ctx.log.warn(`cannot read ${collector.logFile}: ${(err as Error).message}`);
  await collector.poll().catch(report);
  const timer = setInterval(() => void collector.poll().catch(report), Math.max(1, ctx.config.time('metrics_poll_interval')) * 1000);
  timer.unref();

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://metrics');
    if (req.method !== 'GET' && req.method !== 'HEAD') return reply(res, 405, 'method not allowed\n', { Allow: 'GET, HEAD' });
    if (url.pathname !== path) return reply(res, 404, `not found; metrics are at ${path}\n`);
    collector.render().then(
      (body) => reply(res, 200, req.method === 'HEAD' ? '' : body, { 'Content-Type': collector.registry.contentType }),
      (err: Error) => {
        ctx.log.warn(`metrics: ${err.message}`);
        reply(res, 500, 'metrics unavailable\n');
      },
    );
  });
  server.keepAliveTimeout = 5000;
  ctx.onConnection((socket) => server.emit('connection', socket));
  return {
    async stop() {
      clearInterval(timer);
      server.closeAllConnections();
      await collector.close();
    },
  };
};

function reply(res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', ...headers });
  res.end(body);
}
