/**
 * The metric families, on a registry of the service's own (never prom-client's
 * global one). Names follow postfix_exporter's where the two overlap, so its
 * dashboards and alerts work; the others are postern_*.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** Delivery stage delays (delays=a/b/c/d), postfix_exporter's buckets. */
const TIME_BUCKETS = [1e-3, 1e-2, 1e-1, 1, 10, 60, 3600, 86400, 172800];
const SIZE_BUCKETS = [1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9];

export type MetricsFamilies = ReturnType<typeof createFamilies>;

export function createFamilies(registry: Registry) {
  const registers = [registry];
  const counter = <L extends string>(name: string, help: string, labelNames: readonly L[] = []) =>
    new Counter<L>({ name, help, labelNames, registers });
  const histogram = <L extends string>(name: string, help: string, buckets: number[], labelNames: readonly L[] = []) =>
    new Histogram<L>({ name, help, buckets, labelNames, registers });
  return {
    cleanupProcessed: counter('postfix_cleanup_messages_processed_total', 'Total number of messages processed by cleanup.'),
    cleanupRejected: counter('postfix_cleanup_messages_rejected_total', 'Total number of messages rejected by cleanup.'),
    qmgrInsertedRecipients: histogram(
      'postfix_qmgr_messages_inserted_receipients',
      'Number of receipients per message inserted into the mail queues.',
      [1, 2, 4, 8, 16, 32, 64, 128],
    ),
    qmgrInsertedSize: histogram('postfix_qmgr_messages_inserted_size_bytes', 'Size of messages inserted into the mail queues in bytes.', SIZE_BUCKETS),
    qmgrRemoved: counter('postfix_qmgr_messages_removed_total', 'Total number of messages removed from mail queues.'),
    qmgrExpired: counter('postern_qmgr_messages_expired_total', 'Messages returned to the sender after maximal_queue_lifetime.'),
    smtpDelay: histogram('postfix_smtp_delivery_delay_seconds', 'SMTP message processing time in seconds.', TIME_BUCKETS, ['stage']),
    lmtpDelay: histogram('postfix_lmtp_delivery_delay_seconds', 'LMTP message processing time in seconds.', TIME_BUCKETS, ['stage']),
    pipeDelay: histogram('postfix_pipe_delivery_delay_seconds', 'Pipe message processing time in seconds.', TIME_BUCKETS, ['relay', 'stage']),
    smtpDeferred: counter('postfix_smtp_status_deferred', 'Total number of messages deferred.'),
    smtpTls: counter('postfix_smtp_tls_connections_total', 'Total number of outgoing TLS connections.', [
      'trust',
      'protocol',
      'cipher',
      'secret_bits',
      'algorithm_bits',
    ]),
    smtpConnectTimedOut: counter('postfix_smtp_connection_timed_out_total', 'Outgoing connections that timed out.'),
    smtpdConnects: counter('postfix_smtpd_connects_total', 'Total number of incoming connections.'),
    smtpdDisconnects: counter('postfix_smtpd_disconnects_total', 'Total number of incoming disconnections.'),
    smtpdLost: counter('postfix_smtpd_connections_lost_total', 'Total number of connections lost.', ['after_stage']),
    smtpdProcessed: counter('postfix_smtpd_messages_processed_total', 'Total number of messages processed.', ['sasl_method']),
    smtpdRejected: counter('postfix_smtpd_messages_rejected_total', 'Total number of NOQUEUE rejects.', ['code']),
    smtpdRejectReasons: counter('postern_smtpd_rejects_total', 'smtpd rejections by SMTP stage and reason.', ['stage', 'code', 'reason']),
    smtpdSaslFailures: counter('postfix_smtpd_sasl_authentication_failures_total', 'Total number of SASL authentication failures.'),
    smtpdTls: counter('postfix_smtpd_tls_connections_total', 'Total number of incoming TLS connections.', [
      'trust',
      'protocol',
      'cipher',
      'secret_bits',
      'algorithm_bits',
    ]),
    smtpdFcrdnsErrors: counter(
      'postfix_smtpd_forward_confirmed_reverse_dns_errors_total',
      'Total number of connections for which forward-confirmed DNS cannot be resolved.',
    ),
    deliveries: counter('postern_delivery_status_total', 'Delivery attempts by transport and status (sent, deferred, bounced, expired ...).', [
      'transport',
      'status',
    ]),
    residence: histogram(
      'postern_delivery_delay_seconds',
      'Time from arrival to the end of the delivery attempt (delay=), by transport and status.',
      TIME_BUCKETS,
      ['transport', 'status'],
    ),
    processExits: counter('postern_master_process_exits_total', 'Service processes that master saw die unexpectedly, by command and how.', [
      'command',
      'how',
    ]),
    throttled: counter('postern_master_throttles_total', 'Services master throttled after a bad start-up.', ['command']),
    unsupported: counter('postfix_unsupported_log_entries_total', 'Log entries that could not be processed.', ['service']),
    queueMessages: new Gauge({ name: 'postern_queue_messages', help: 'Messages in each queue.', labelNames: ['queue'] as const, registers }),
    up: new Gauge({ name: 'postfix_up', help: "Whether scraping Postfix's metrics was successful.", labelNames: ['path'] as const, registers }),
    logLines: counter('postern_metrics_log_lines_total', 'Log lines read by the metrics service.'),
  };
}
