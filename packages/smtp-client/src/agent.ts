/**
 * The smtp(8)/lmtp(8) delivery agent of one service process: the shared
 * client (createSmtpClient) on core's delivery-agent skeleton. plugin-smtp
 * and plugin-lmtp each call it with their protocol.
 */
import type { ServiceContext } from '@postern/core';
import { NAME_RESOLVER } from '@postern/core';
import { TABLES } from '@postern/core';
import { use, serviceClients } from '@postern/core';
import { deliveryAgent, type DeliveryAgentInstance } from '@postern/core';
import { createSmtpClient, type ClientStats } from './deliver.js';
import { sharedSessionCache } from './scache.js';
import { tlsSessionCache } from './tls-cache.js';

export interface ClientAgentInstance extends DeliveryAgentInstance {
  /** Connections opened, messages sent, messages sent over a reused connection. */
  stats(): ClientStats;
}

export function clientAgent(ctx: ServiceContext, protocol: 'smtp' | 'lmtp'): ClientAgentInstance {
  const c = ctx.container;
  const clients = serviceClients(c);
  const client = createSmtpClient({
    protocol,
    config: ctx.config,
    log: ctx.log,
    tables: use(c, TABLES),
    cache: sharedSessionCache(clients, ctx.log),
    tlsCache: tlsSessionCache(clients, protocol, ctx.log),
    ...(c.isRegistered(NAME_RESOLVER, true) && { resolver: use(c, NAME_RESOLVER) }),
  });
  const agent = deliveryAgent(ctx, client.deliver);
  return {
    deliver: (request) => agent.deliver(request),
    stats: () => client.stats(),
    async stop(graceful) {
      await agent.stop(graceful);
      client.close();
    },
  };
}
