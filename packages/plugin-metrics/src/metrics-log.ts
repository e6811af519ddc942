/**
 * From log lines to metrics: each Postfix-shaped line (`... program[pid]: text`,
 * program = syslog_name/command or syslog_name/service/command) is matched by
 * its daemon, as postfix_exporter does, and counted in the families of
 * metrics-registry.ts. Lines of other programs, and lines no rule knows, count
 * in postfix_unsupported_log_entries_total{service}.
 */
import { SERVICE } from '@postern/core';
import { basename } from 'node:path';
import type { MetricsFamilies } from './metrics-registry.js';

/** The parts of a log line the rules need. */
export interface LogRecord {
  /** The daemon: the last part of the program name (smtpd, smtp, qmgr, master ...). */
  readonly daemon: string;
  /** The service: the middle part of syslog_name/service/command, else the daemon (relay, submission ...). */
  readonly service: string;
  readonly text: string;
}

const LINE = / ([^\s[\]]+)\[\d+\]: (.*)$/;

/** The program and text of a log line, or undefined for a line of another shape. */
export function parseLogLine(line: string): LogRecord | undefined {
  const m = LINE.exec(line);
  if (!m) return undefined;
  const parts = m[1]!.split('/');
  if (parts.length < 2) return undefined;
  const daemon = parts[parts.length - 1]!;
  return { daemon, service: parts.length > 2 ? parts[parts.length - 2]! : daemon, text: m[2]! };
}

const DELIVERY =
  /: to=<[^>]*>, .*?relay=([^,]+), .*?delay=([\d.]+), delays=([\d.]+)\/([\d.]+)\/([\d.]+)\/([\d.]+), dsn=[^,]+, status=(\w+)/;
const STAGES = ['before_queue_manager', 'queue_manager', 'connection_setup', 'transmission'] as const;
const QMGR_INSERT = /: from=<[^>]*>, size=(\d+), nrcpt=(\d+) /;
const TLS = /^(\S+) TLS connection established (?:from|to) \S+: (\S+) with cipher (\S+) \((\d+)\/(\d+) bits\)/;
const REJECT = /^\S+: (?:milter-)?reject: (\S+) from \S+: (\d{3}) (?:\d\.\d{1,3}\.\d{1,3} )?(.*?)(?:; from=<.*)?$/;
const LOST = /^lost connection after (\S+) from /;
const SASL_METHOD = /: client=.*, sasl_method=([^,\s]+)/;
const SASL_FAILED = /^warning: \S+: SASL \S+ authentication failed/;
const MASTER_EXIT = /^warning: process (\S+) pid \d+ (?:killed by signal (\S+)|exit status (\d+))/;
const MASTER_THROTTLE = /^warning: (\S+): bad command startup -- throttling/;
/** The longest reason label kept: the rest of a reply text is detail, not a reason. */
const REASON_MAX = 80;

/**
 * The reason of a reject reply, fit for a label: without the address or name it
 * names (`<a@b>: `), bracketed addresses, and anything past REASON_MAX.
 */
export function rejectReason(text: string): string {
  return text
    .replace(/^<[^>]*>: */, '')
    .replace(/ *\[[^\]]*\]/g, '')
    .replace(/<[^>]*>/g, '<>')
    .slice(0, REASON_MAX)
    .trim();
}

/** Counts one log line; returns false when no rule knew it. */
export function observeLine(m: MetricsFamilies, line: string): boolean {
  m.logLines.inc();
  const rec = parseLogLine(line);
  const known = rec !== undefined && observeRecord(m, rec);
  if (!known) m.unsupported.inc({ service: rec?.daemon ?? '' });
  return known;
}

function observeRecord(m: MetricsFamilies, { daemon, service, text }: LogRecord): boolean {
  const delivery = DELIVERY.exec(text);
  if (delivery && daemon !== SERVICE.QMGR) return observeDelivery(m, daemon, service, delivery);
  switch (daemon) {
    case 'smtpd':
      return observeSmtpd(m, text);
    case 'cleanup':
      if (text.includes(': message-id=')) m.cleanupProcessed.inc();
      else if (/^\S+: (?:milter-)?reject: /.test(text)) m.cleanupRejected.inc();
      else return false;
      return true;
    case 'qmgr': {
      const insert = QMGR_INSERT.exec(text);
      if (insert) {
        m.qmgrInsertedSize.observe(Number(insert[1]));
        m.qmgrInsertedRecipients.observe(Number(insert[2]));
      } else if (text.endsWith(': removed')) m.qmgrRemoved.inc();
      else if (text.includes(', status=expired')) m.qmgrExpired.inc();
      else if (delivery) m.deliveries.inc({ transport: 'qmgr', status: delivery[7]! });
      else return false;
      return true;
    }
    case 'master': {
      const exit = MASTER_EXIT.exec(text);
      const throttle = MASTER_THROTTLE.exec(text);
      if (exit) m.processExits.inc({ command: basename(exit[1]!), how: exit[2] ? `signal ${exit[2]}` : `exit ${exit[3]}` });
      else if (throttle) m.throttled.inc({ command: basename(throttle[1]!) });
      else return false;
      return true;
    }
    case 'smtp':
    case 'lmtp': {
      const tls = TLS.exec(text);
      if (tls) m.smtpTls.inc(tlsLabels(tls));
      else if (/^connect to \S+: Connection timed out$/.test(text)) m.smtpConnectTimedOut.inc();
      else return false;
      return true;
    }
    default:
      return false;
  }
}

function observeDelivery(m: MetricsFamilies, daemon: string, service: string, d: RegExpExecArray): boolean {
  const status = d[7]!;
  const stages = [d[3], d[4], d[5], d[6]].map(Number);
  if (daemon === 'smtp') {
    stages.forEach((v, i) => m.smtpDelay.observe({ stage: STAGES[i]! }, v));
    if (status === 'deferred') m.smtpDeferred.inc();
  } else if (daemon === 'lmtp') stages.forEach((v, i) => m.lmtpDelay.observe({ stage: STAGES[i]! }, v));
  else if (daemon === 'pipe') stages.forEach((v, i) => m.pipeDelay.observe({ relay: d[1]!, stage: STAGES[i]! }, v));
  m.deliveries.inc({ transport: service, status });
  m.residence.observe({ transport: service, status }, Number(d[2]));
  return true;
}

function observeSmtpd(m: MetricsFamilies, text: string): boolean {
  if (text.startsWith('connect from ')) m.smtpdConnects.inc();
  else if (text.startsWith('disconnect from ')) m.smtpdDisconnects.inc();
  else if (text.startsWith('warning: hostname ') && text.includes(' does not resolve to address ')) m.smtpdFcrdnsErrors.inc();
  else if (LOST.test(text)) m.smtpdLost.inc({ after_stage: LOST.exec(text)![1]! });
  else if (text.includes(': client=')) m.smtpdProcessed.inc({ sasl_method: SASL_METHOD.exec(text)?.[1] ?? '' });
  else if (REJECT.test(text)) {
    const [, stage, code, rest] = REJECT.exec(text)!;
    m.smtpdRejected.inc({ code: code! });
    m.smtpdRejectReasons.inc({ stage: stage!, code: code!, reason: rejectReason(rest!) });
  } else if (SASL_FAILED.test(text)) m.smtpdSaslFailures.inc();
  else if (TLS.test(text)) m.smtpdTls.inc(tlsLabels(TLS.exec(text)!));
  else return false;
  return true;
}

function tlsLabels(t: RegExpExecArray) {
  return { trust: t[1]!, protocol: t[2]!, cipher: t[3]!, secret_bits: t[4]!, algorithm_bits: t[5]! };
}
