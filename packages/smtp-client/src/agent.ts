/**
 * The smtp(8)/lmtp(8) delivery agent of one service process: the shared
 * client (createSmtpClient) on core's delivery-agent skeleton. plugin-smtp
 * and plugin-lmtp each call it with their protocol.
 */
import { NAME_RESOLVER, TABLES, deliveryAgent, deliveryStatusFilterParameter, provide, serviceClients, token, tryUse, use, type DeliveryAgentInstance, type ServiceContext, type ServicePreInit } from '@postern/core';
import { createSmtpClient, type ClientStats } from './deliver.js';
import { clientSettings, type ClientProtocol } from './params.js';
import { readTlsFiles, type TlsFileContents } from './tls.js';
import { sharedSessionCache } from './scache.js';
import { tlsSessionCache } from './tls-cache.js';

export interface ClientAgentInstance extends DeliveryAgentInstance {
  /** Connections opened, messages sent, messages sent over a reused connection. */
  stats(): ClientStats;
}

/** The TLS files as the client's preInit read them, before the process dropped privileges. */
const CLIENT_TLS_FILES = token<TlsFileContents>('smtp-client.TlsFiles');

/**
 * The agent's preInit: reads ${protocol}_tls_CAfile, _CApath, _cert_file and
 * _key_file while the process is still root (Postfix's smtp pre_init), so a
 * client key readable by root alone works after the drop to mail_owner.
 */
export function clientPreInit(protocol: ClientProtocol): ServicePreInit {
  return (ctx) => {
    const s = clientSettings(ctx.config, protocol);
    const files = readTlsFiles({ caFile: s.get('tls_CAfile'), caPath: s.get('tls_CApath'), certFile: s.get('tls_cert_file'), keyFile: s.get('tls_key_file') });
    if (files.size > 0) provide(ctx.container, CLIENT_TLS_FILES, files);
  };
}

export function clientAgent(ctx: ServiceContext, protocol: ClientProtocol): ClientAgentInstance {
  const c = ctx.container;
  const clients = serviceClients(c);
  const client = createSmtpClient({
    protocol,
    config: ctx.config,
    log: ctx.log,
    tables: use(c, TABLES),
    cache: sharedSessionCache(clients, ctx.log),
    tlsCache: tlsSessionCache(clients, protocol, ctx.log),
    tlsFiles: tryUse(c, CLIENT_TLS_FILES),
    ...(c.isRegistered(NAME_RESOLVER, true) && { resolver: use(c, NAME_RESOLVER) }),
  });
  const agent = deliveryAgent(ctx, client.deliver, { statusFilter: deliveryStatusFilterParameter(protocol) });
  return {
    deliver: (request) => agent.deliver(request),
    stats: () => client.stats(),
    async stop(graceful) {
      await agent.stop(graceful);
      client.close();
    },
  };
}
