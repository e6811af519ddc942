import type { ClientAttrs, DsnNotify, DsnRet, SaslAttrs } from './queue.js';
import { token } from './token.js';

export interface DeliveryRecipient {
  /** Position in the queued message's envelope; results refer to it. */
  readonly index: number;
  readonly address: string;
  readonly original?: string;
  readonly orcpt?: string;
  readonly notify?: readonly DsnNotify[];
}

/** deliver_request.h: what qmgr asks of a delivery agent. Plain data. */
export interface DeliveryRequest {
  readonly queueId: string;
  readonly queueName: string;
  readonly transport: string;
  readonly nexthop: string;
  readonly sender: string;
  readonly recipients: readonly DeliveryRecipient[];
  readonly arrivalTime: number;
  readonly size: number;
  readonly dsnRet?: DsnRet;
  readonly dsnEnvid?: string;
  readonly client?: ClientAttrs;
  readonly sasl?: SaslAttrs;
  readonly bodyType?: '7BIT' | '8BITMIME' | 'BINARYMIME';
  readonly smtputf8?: boolean;
  readonly hops?: number;
  /** When qmgr took the message into the active queue (ms): for the delays= figures. */
  readonly activeTime?: number;
  /**
   * Trace requests (Postfix's DEL_REQ_FLAG_*): verify = sendmail -bv
   * (USR_VRFY: report by mail, do not deliver), probe = an address
   * verification probe of verify(8) (MTA_VRFY: report to verify(8), do not
   * deliver), record = sendmail -v (deliver and report). With verify or
   * probe a delivery agent only finds out what it would do
   * ({@link isTraceOnly}).
   */
  readonly traceFlags?: readonly ('verify' | 'record' | 'expand' | 'probe')[];
}

/** DEL_REQ_TRACE_ONLY: the request asks what would happen, not for a delivery. */
export function isTraceOnly(request: Pick<DeliveryRequest, 'traceFlags'>): boolean {
  return request.traceFlags?.some((f) => f === 'verify' || f === 'probe') ?? false;
}

export type DeliveryStatus = 'sent' | 'deferred' | 'bounced';

export interface RecipientResult {
  readonly index: number;
  readonly status: DeliveryStatus;
  /** RFC 3463 status code, e.g. "2.0.0", "4.4.1", "5.1.1". */
  readonly dsn: string;
  /** The reason, as the log shows it in status=sent (...). */
  readonly reason: string;
  /** relay= in the log: "local", "none", "host[addr]:port". */
  readonly relay?: string;
  /** RFC 3464 action; derived from status when absent. */
  readonly action?: 'delivered' | 'relayed' | 'expanded' | 'failed' | 'delayed';
  /** Diagnostic-Code for the DSN, e.g. "smtp; 550 5.1.1 unknown user". */
  readonly diagnostic?: string;
  readonly remoteMta?: string;
  /** How many deliveries the connection used has carried, this one included (conn_use= in the log). */
  readonly connUse?: number;
  /**
   * The address the message was finally delivered to, when local expansion
   * (an alias, .forward) changed it: logged as to=, with the request's
   * recipient as orig_to=, as Postfix's local(8) logs.
   */
  readonly address?: string;
  /**
   * The outcome was already logged and recorded (bounce/defer/trace logs) by
   * another delivery agent this one handed the recipient to (Postfix's
   * deliver_pass(): local(8) with mailbox_transport): the skeleton passes it
   * on to qmgr without reporting it again.
   */
  readonly reported?: boolean;
}

/** A delivery agent's whole answer, as it goes back to qmgr. */
export interface DeliveryResponse {
  readonly results: readonly RecipientResult[];
  /** Transport- or site-level trouble (connection refused ...): qmgr may throttle the destination. */
  readonly destinationDown?: boolean;
}

/** The delivery service qmgr calls for each transport (master.cf services). */
export interface DeliveryService {
  deliver(request: DeliveryRequest): Promise<DeliveryResponse>;
}

export const DELIVERY = token<DeliveryService>('DeliveryService');
