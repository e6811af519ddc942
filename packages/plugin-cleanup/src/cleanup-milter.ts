/**
 * non_smtpd_milters (MILTER_README, cleanup_milter.c): mail that does not
 * come from smtpd (sendmail through pickup, qmqpd, postsuper -r) goes through
 * these milters before cleanup processes it. cleanup pretends, as Postfix
 * does, that the mail arrived over ESMTP from "localhost" [127.0.0.1] with
 * HELO localhost; the milters' replies and edits apply as for smtpd_milters,
 * the headers they add or change meeting milter_header_checks first.
 * Mail that Postern makes itself (bounces, local(8) forwarding, verify
 * probes) is not sent to milters.
 */
import { MilterChain, MilterHeaderChecks, milterSpecs } from '@postern/milter';
import type { CleanupRequest, CleanupResult, ConfigView, Logger, LookupTable } from '@postern/core';

/** The origins of mail that non_smtpd_milters inspect. */
const NON_SMTPD = new Set(['pickup', 'qmqpd', 'postsuper', 'sendmail']);

export function nonSmtpdMiltersApply(config: ConfigView, request: CleanupRequest): boolean {
  return config.get('non_smtpd_milters').trim() !== '' && NON_SMTPD.has(request.origin);
}

export async function nonSmtpdMilters(
  config: ConfigView,
  log: Logger,
  request: CleanupRequest,
  content: AsyncIterable<Buffer>,
  headerChecks: readonly LookupTable[] = [],
): Promise<{ refused?: Omit<CleanupResult, 'queueId'>; request: CleanupRequest; content: AsyncIterable<Buffer> }> {
  const chunks: Buffer[] = [];
  for await (const c of content) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c));
  let rcpt: string | undefined;
  const macro = (name: string): string | undefined => {
    switch (name.replace(/^\{(.*)\}$/, '$1')) {
      case 'i':
        return request.queueId;
      case 'j':
        return config.get('myhostname');
      case '_':
        return 'localhost [127.0.0.1]';
      case 'v':
        return config.expand(config.get('milter_macro_v'));
      case 'daemon_name':
        return config.expand(config.get('milter_macro_daemon_name'));
      case 'client_addr':
        return '127.0.0.1';
      case 'client_name':
        return 'localhost';
      case 'mail_addr':
        return request.sender;
      case 'rcpt_addr':
        return rcpt;
      default:
        return undefined;
    }
  };
  const chain = await MilterChain.open(milterSpecs(config, 'non_smtpd_milters'), config, macro, (w) => log.warn(w));
  try {
    const refuse = (reply: string) => refusal(reply, log, request);
    let r = (await chain.connect('localhost', '127.0.0.1', 0, 'inet')) ?? (await chain.helo('localhost')) ?? (await chain.mail(request.sender));
    if (r !== undefined && r !== 'D' && !r.startsWith('H')) return { refused: refuse(r), request, content: once(Buffer.concat(chunks)) };
    let recipients = [...request.recipients];
    for (const x of request.recipients) {
      rcpt = x.address;
      const rr = await chain.rcpt(x.address);
      if (rr !== undefined && rr !== 'D' && !rr.startsWith('H')) recipients = recipients.filter((y) => y !== x);
    }
    rcpt = undefined;
    if (recipients.length === 0) return { refused: refuse('550 5.7.1 Command rejected'), request, content: once(Buffer.concat(chunks)) };
    r = await chain.data();
    if (r !== undefined && r !== 'D' && !r.startsWith('H')) return { refused: refuse(r), request, content: once(Buffer.concat(chunks)) };
    const checks = headerChecks.length
      ? new MilterHeaderChecks(headerChecks, log, {
          queueId: request.queueId ?? 'NOQUEUE',
          client: 'localhost[127.0.0.1]',
          sender: request.sender,
          recipient: recipients.at(-1)?.address,
          protocol: request.client?.protocol,
          helo: request.client?.helo,
          hold: !!request.flags?.hold,
        })
      : undefined;
    const m = await chain.message(Buffer.concat(chunks), checks);
    // milter_header_checks logged their own REJECT and DISCARD
    if (checks?.reply) return { refused: refusalOf(checks.reply), request, content: once(m.content) };
    if (m.reply !== undefined) return { refused: refuse(m.reply), request, content: once(m.content) };
    if (m.discard || checks?.discard) return { refused: { status: 'discarded', code: 250, dsn: '2.0.0', text: 'Ok' }, request, content: once(m.content) };
    recipients = recipients.filter((x) => !m.deleteRecipients.some((d) => d.toLowerCase() === x.address.toLowerCase()));
    recipients.push(...m.addRecipients.map((address) => ({ address })), ...(checks?.bcc ?? []).map((address) => ({ address })));
    const hold = !!request.flags?.hold || !!checks?.held || !!m.hold;
    if (m.hold && !request.flags?.hold && !checks?.held) log.info(`${request.queueId ?? 'NOQUEUE'}: milter-hold: END-OF-MESSAGE from localhost[127.0.0.1]: ${m.hold}; from=<${request.sender}>`);
    return {
      request: {
        ...request,
        sender: m.sender ?? request.sender,
        recipients,
        ...(hold && { flags: { ...request.flags, hold: true } }),
        ...(checks?.filter !== undefined && { filter: checks.filter }),
        ...(checks?.redirect !== undefined && { redirect: checks.redirect }),
      },
      content: once(m.content),
    };
  } finally {
    chain.quit();
  }
}

function refusal(reply: string, log: Logger, request: CleanupRequest): Omit<CleanupResult, 'queueId'> {
  const text = reply === 'S' ? '421 4.7.0 Server closing connection' : reply;
  log.info(`${request.queueId ?? 'NOQUEUE'}: milter-reject: END-OF-MESSAGE from localhost[127.0.0.1]: ${text}; from=<${request.sender}>`);
  return refusalOf(text);
}

/** A reply ("550 5.7.1 text") as cleanup's result. */
function refusalOf(text: string): Omit<CleanupResult, 'queueId'> {
  const m = /^(\d{3})(?: ([245]\.\d{1,3}\.\d{1,3}))?\s*(.*)$/.exec(text);
  const code = Number(m?.[1] ?? 451);
  return { status: code >= 500 ? 'rejected' : 'tempfail', code, dsn: m?.[2] ?? (code >= 500 ? '5.7.1' : '4.7.1'), text: m?.[3] ?? text };
}

async function* once(content: Buffer): AsyncGenerator<Buffer> {
  yield content;
}
