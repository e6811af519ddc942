/**
 * reject_unverified_recipient and reject_unverified_sender (smtpd_check.c
 * reject_unverified_address, ADDRESS_VERIFICATION_README): ask verify(8)
 * about the address, polling address_verify_poll_count times
 * address_verify_poll_delay apart while a probe is on its way, then answer
 * as Postfix does:
 *
 *   deliverable      go on
 *   undetermined     unverified_*_defer_code (450): "<a>: Recipient address
 *                    rejected: unverified address: Address verification in progress"
 *   undeliverable    unverified_*_reject_code (450): the same "unverified
 *                    address: <probe's reason>"; with a 5xx code "undeliverable address: ..."
 *   service failure  450 "<a>: ... rejected: address verification problem"
 *
 * 4xx answers follow unverified_*_tempfail_action (defer_if_permit: the
 * deferral takes effect only if the rest of the list would permit).
 */
import { SERVICE, type ConfigView, type Logger, type VerifyService } from '@postern/core';

/** The verify stub's answer when the service cannot be reached (VRFY_STAT_FAIL). */
const SERVICE_DOWN = 'address verification service is unavailable';

export type UnverifiedVerdict =
  | { readonly kind: 'dunno' }
  | { readonly kind: 'reject' | 'defer_if_permit'; readonly code: number; readonly dsn: string; readonly text: string };

export async function checkUnverified(
  config: ConfigView,
  log: Logger,
  verify: VerifyService,
  sleep: (ms: number) => Promise<void>,
  address: string,
  cls: 'Recipient address' | 'Sender address',
): Promise<UnverifiedVerdict> {
  const who = cls === 'Sender address' ? 'sender' : 'recipient';
  const dsn = who === 'sender' ? '4.1.7' : '4.1.1';
  const polls = Math.max(1, config.int('address_verify_poll_count'));
  let answer = await verify.query(address);
  for (let n = 1; answer.status === 'undetermined' && answer.text !== SERVICE_DOWN && n < polls; n++) {
    await sleep(config.time('address_verify_poll_delay') * 1000);
    answer = await verify.query(address);
  }
  const tempAction = config.get(`unverified_${who}_tempfail_action`).trim().toLowerCase();
  const soft = (code: number, text: string): UnverifiedVerdict => ({
    kind: tempAction === 'defer_if_permit' ? 'defer_if_permit' : 'reject',
    code: tempAction === 'defer_if_permit' || tempAction === 'defer' ? code : tempAction === 'reject' ? config.int('reject_code') : code,
    dsn,
    text,
  });
  if (answer.status === 'undetermined' && answer.text === SERVICE_DOWN) {
    log.warn(`${config.get('address_verify_service_name') || SERVICE.VERIFY} service failure`);
    return soft(450, `<${address}>: ${cls} rejected: address verification problem`);
  }
  if (answer.status === 'deliverable') return { kind: 'dunno' };
  const code = config.int(answer.status === 'undeliverable' ? `unverified_${who}_reject_code` : `unverified_${who}_defer_code`);
  const why = config.get(`unverified_${who}_reject_reason`).trim() || answer.text;
  if (code >= 200 && code < 300) return { kind: 'dunno' };
  if (code >= 400 && code < 500) return soft(code, `<${address}>: ${cls} rejected: unverified address: ${why.slice(0, 250)}`);
  return { kind: 'reject', code, dsn: `5${dsn.slice(1)}`, text: `<${address}>: ${cls} rejected: undeliverable address: ${why}` };
}
