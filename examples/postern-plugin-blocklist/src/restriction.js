/**
 * reject_blocklisted_sender: refuses a MAIL FROM whose domain is, or is under,
 * one of blocklist_sender_domains. smtpd calls it with the SMTP state and the
 * plugin's context: the configuration view, a logger, and the values of the
 * parameters this package declares.
 *
 * @param {import('@postern/core').SmtpdCheckState} state
 * @param {import('@postern/core').SmtpdPluginContext} ctx
 * @returns {import('@postern/core').SmtpdVerdict}
 */
export function rejectBlocklistedSender(state, ctx) {
  const sender = state.sender ?? '';
  const at = sender.lastIndexOf('@');
  if (at < 0) return { action: 'dunno' };
  const domain = sender.slice(at + 1).toLowerCase();
  const listed = ctx.config.list('blocklist_sender_domains').find((d) => domain === d.toLowerCase() || domain.endsWith(`.${d.toLowerCase()}`));
  if (!listed) return { action: 'dunno' };
  ctx.log.info(`sender <${sender}> is under ${listed}`);
  return {
    action: 'reject',
    code: Number(ctx.parameters.blocklist_reject_code),
    dsn: '5.7.1',
    text: ctx.parameters.blocklist_reply_text,
  };
}
