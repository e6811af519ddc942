/**
 * The delivery agent skeleton (Postfix's deliver_request_read() and
 * deliver_completed()): a delivery agent plugin fills in one function that
 * delivers one request, and the skeleton does the rest:
 *
 *   - serves the DELIVER method on the service's endpoint
 *     (queue_directory/private/<transport>), many requests at a time;
 *   - opens the message content lazily from the queue store;
 *   - enforces the time limit (<transport>_time_limit, else
 *     command_time_limit, default 1000s) through an AbortSignal;
 *   - passes each recipient's status through the agent's delivery status
 *     filter (<agent>_delivery_status_filter, when the agent names one),
 *     then logs its delivery line and appends it to the message's
 *     bounce, defer or trace log through the bounce service (not for a
 *     result marked `reported`: another agent it was passed to did that);
 *   - defers, with "4.3.0 ... internal error", every recipient the function
 *     did not answer, and all of them when it throws;
 *   - answers qmgr with the per-recipient results and destinationDown.
 */
import { BOUNCE, type BounceService } from '../contracts/bounce.js';
import type { ConfigView } from '../contracts/config.js';
import type {
  DeliveryRecipient,
  DeliveryRequest,
  DeliveryResponse,
  DeliveryService,
  RecipientResult,
} from '../contracts/delivery.js';
import type { Logger } from '../contracts/logger.js';
import type { QueueStore } from '../contracts/queue.js';
import { QUEUE_STORE } from '../contracts/queue.js';
import type { ServiceContext, ServiceInstance } from '../contracts/service.js';
import { inject, injectable, use } from '../contracts/token.js';
import { METHOD } from '../service/clients.js';
import { FLUSH, type FlushService } from '../contracts/flush.js';
import { VERIFY, type VerifyService } from '../contracts/verify.js';
import { SERVICE } from '../protocol/services.js';
import { TABLES } from '../contracts/table.js';
import { serveIpc } from '../service/serve.js';
import { delayResolution } from './delivery-log.js';
import { reportStatus, type StatusReporter } from './delivery-status.js';
import { openDeliveryStatusFilter, type DeliveryStatusFilter } from './delivery-status-filter.js';

/** The message content, opened only when the delivery function asks for it. */
export interface MessageSource {
  readonly queueId: string;
  /** Content size in bytes, as queued. */
  readonly size: number;
  /** Streams the content from the queue store. */
  stream(): AsyncIterable<Buffer>;
  /** The whole content as one buffer. */
  buffer(): Promise<Buffer>;
}

/** What the skeleton hands the delivery function besides the request and the content. */
export interface AgentContext {
  /** The master.cf service name (the transport). */
  readonly service: string;
  readonly config: ConfigView;
  readonly log: Logger;
  /** Fires when the time limit is reached or qmgr goes away: stop and return what is known. */
  readonly signal: AbortSignal;
  /** Marks the end of connection setup (DNS, connect, greeting, TLS): delays= c versus d. */
  connected(): void;
  /** Tells qmgr the destination itself fails (not one recipient): qmgr slows down or suspends it. */
  destinationDown(): void;
}

/** The one function a delivery agent plugin writes. */
export type DeliverFunction = (
  request: DeliveryRequest,
  message: MessageSource,
  agent: AgentContext,
) => Promise<readonly RecipientResult[]>;

export interface DeliveryAgentOptions {
  /** relay= for results that name none (Postfix's agents log "none" or "local"). */
  readonly relay?: string;
  /** Time limit in seconds; default <service>_time_limit, else command_time_limit. */
  readonly timeLimit?: number;
  /**
   * The agent's delivery status filter parameter (smtp_delivery_status_filter,
   * local_delivery_status_filter ...); its tables are opened when the agent
   * starts. Absent: no filter (error, discard).
   */
  readonly statusFilter?: string;
}

/** The contracts every delivery agent calls: bounce (required), flush and verify (when installed). */
export const DELIVERY_AGENT_USES = { uses: [SERVICE.BOUNCE], mayUse: [SERVICE.FLUSH, SERVICE.VERIFY] } as const;

/**
 * What the skeleton takes from the service's container, by constructor
 * injection. The queue store is resolved apart, when a delivery first reads
 * the content (an agent that never reads it, discard, error, needs none).
 */
@injectable()
export class DeliveryAgentServices {
  constructor(
    @inject(BOUNCE) readonly bounce: BounceService,
    @inject(FLUSH) readonly flush: FlushService,
    @inject(VERIFY) readonly verify: VerifyService,
  ) {}
}

export type DeliveryAgentInstance = ServiceInstance & DeliveryService;

/** Reason and status for recipients the delivery function leaves unanswered. */
export const INTERNAL_ERROR_DSN = '4.3.0';
const COMMAND_TIME_LIMIT_DEFAULT = 1000;

/** The delivery time limit of `service` in seconds (Postfix's <transport>_time_limit). */
export function deliveryTimeLimit(config: ConfigView, service: string): number {
  for (const name of [`${service}_time_limit`, 'command_time_limit']) {
    if (config.has(name)) return config.time(name);
  }
  return COMMAND_TIME_LIMIT_DEFAULT;
}

/**
 * Builds a delivery agent around `deliver` and serves it on the service's
 * endpoint. The returned instance is also the DeliveryService itself, for
 * callers in the same process.
 */
export function deliveryAgent(
  ctx: ServiceContext,
  deliver: DeliverFunction,
  options: DeliveryAgentOptions = {},
): DeliveryAgentInstance {
  const agent = new DeliveryAgent(ctx, deliver, options);
  const served = serveIpc(ctx, {
    [METHOD.DELIVER]: (request: DeliveryRequest, call) => agent.run(request, call.signal),
  });
  return {
    deliver: (request) => agent.run(request),
    stop: (graceful) => served.stop(graceful),
  };
}

class DeliveryAgent {
  private services: DeliveryAgentServices | undefined;
  private store: QueueStore | undefined;
  private readonly service: string;
  private readonly resolution: number;
  private readonly statusFilter: DeliveryStatusFilter | undefined;

  constructor(
    private readonly ctx: ServiceContext,
    private readonly deliver: DeliverFunction,
    private readonly options: DeliveryAgentOptions,
  ) {
    this.service = ctx.entry.name;
    this.resolution = delayResolution(ctx.config);
    this.statusFilter =
      options.statusFilter === undefined
        ? undefined
        : openDeliveryStatusFilter(ctx.config, () => use(ctx.container, TABLES), options.statusFilter, ctx.log);
  }

  /** Resolved at the first delivery, not when the agent starts. */
  private deps(): DeliveryAgentServices {
    return (this.services ??= this.ctx.container.resolve(DeliveryAgentServices));
  }

  private queueStore(): QueueStore {
    return (this.store ??= use(this.ctx.container, QUEUE_STORE));
  }

  private reporter(): StatusReporter {
    const { bounce, flush, verify } = this.deps();
    return {
      log: this.ctx.log,
      bounce,
      flush,
      verify,
      resolution: this.resolution,
      softBounce: this.ctx.config.bool('soft_bounce'),
      statusFilter: this.statusFilter,
    };
  }

  async run(request: DeliveryRequest, callSignal?: AbortSignal): Promise<DeliveryResponse> {
    const started = Date.now();
    const limit = this.options.timeLimit ?? deliveryTimeLimit(this.ctx.config, this.service);
    const abort = new AbortController();
    const timeLimitReason = 'delivery time limit exceeded';
    const timer = limit > 0 ? setTimeout(() => abort.abort(new Error(timeLimitReason)), limit * 1000) : undefined;
    const onCallAbort = () => abort.abort(new Error('delivery request cancelled'));
    callSignal?.addEventListener('abort', onCallAbort, { once: true });

    let connected: number | undefined;
    let destinationDown = false;
    const agentCtx: AgentContext = {
      service: this.service,
      config: this.ctx.config,
      log: this.ctx.log,
      signal: abort.signal,
      connected: () => void (connected ??= Date.now()),
      destinationDown: () => void (destinationDown = true),
    };
    const source = this.source(request);

    let answers: readonly RecipientResult[] = [];
    let failure: string | undefined;
    try {
      answers = await raceAbort(this.deliver(request, source, agentCtx), abort.signal);
    } catch (err) {
      failure = abort.signal.aborted ? String((abort.signal.reason as Error)?.message ?? timeLimitReason) : errorText(err);
      if (!abort.signal.aborted) this.ctx.log.warn(`${request.queueId}: ${this.service}: ${failure}`);
    } finally {
      if (timer) clearTimeout(timer);
      callSignal?.removeEventListener('abort', onCallAbort);
    }

    const byIndex = new Map<number, RecipientResult>();
    for (const r of answers) {
      if (byIndex.has(r.index)) continue;
      if (validResult(r)) byIndex.set(r.index, r);
      else this.ctx.log.warn(`${request.queueId}: ${this.service}: bad status for recipient #${r.index}: ${JSON.stringify(r)}`);
    }
    const times = { arrival: request.arrivalTime, active: request.activeTime ?? started, agent: started, connected };
    const reporter = this.reporter();
    const results = await Promise.all(
      request.recipients.map((rcpt) => {
        const answer = byIndex.get(rcpt.index);
        // another agent (deliver_pass) already logged and recorded it
        if (answer?.reported) return Promise.resolve(answer);
        return reportStatus(reporter, {
          queueId: request.queueId,
          recipient: rcpt,
          result: byIndex.get(rcpt.index) ?? unanswered(rcpt, failure),
          times: { ...times, done: Date.now() },
          ...(this.options.relay !== undefined && { relay: this.options.relay }),
          ...(request.traceFlags !== undefined && { traceFlags: request.traceFlags }),
        });
      }),
    );
    return destinationDown ? { results, destinationDown } : { results };
  }

  private source(request: DeliveryRequest): MessageSource {
    const store = () => this.queueStore();
    return {
      queueId: request.queueId,
      size: request.size,
      stream: () => store().readContent(request.queueId),
      async buffer() {
        const chunks: Buffer[] = [];
        for await (const chunk of store().readContent(request.queueId)) chunks.push(chunk);
        return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
      },
    };
  }
}

function unanswered(rcpt: DeliveryRecipient, failure: string | undefined): RecipientResult {
  return {
    index: rcpt.index,
    status: 'deferred',
    dsn: INTERNAL_ERROR_DSN,
    reason: failure ?? 'delivery agent internal error: no status for this recipient',
  };
}

const STATUSES: ReadonlySet<string> = new Set(['sent', 'deferred', 'bounced']);
const DSN = /^[245]\.\d{1,3}\.\d{1,3}$/;

/** A result the skeleton can log and report; anything else counts as unanswered. */
function validResult(r: RecipientResult): boolean {
  return (
    r !== null &&
    typeof r === 'object' &&
    Number.isInteger(r.index) &&
    STATUSES.has(r.status) &&
    typeof r.dsn === 'string' &&
    DSN.test(r.dsn) &&
    typeof r.reason === 'string'
  );
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Settles with `work`, or rejects as soon as `signal` fires (the function may ignore its signal). */
function raceAbort<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (v) => (signal.removeEventListener('abort', onAbort), resolve(v)),
      (e) => (signal.removeEventListener('abort', onAbort), reject(e)),
    );
  });
}
