/**
 * blocklist-report: a master.cf service. Each connection gets one line, the
 * blocklisted domains, and is closed:
 *
 *   127.0.0.1:10099 inet n - n - - blocklist-report
 *
 * @type {import('@postern/core').ServiceMain}
 */
export const main = async (ctx) => {
  const domains = ctx.config.list('blocklist_sender_domains');
  ctx.onConnection((socket) => {
    socket.on('error', () => undefined);
    socket.end(`blocklist: ${domains.length} domain(s): ${domains.join(' ')}\n`);
    ctx.log.info(`report sent to ${socket.remoteAddress ?? 'local client'}`);
  });
  return { async stop() {} };
};
