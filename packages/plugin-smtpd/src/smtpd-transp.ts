/**
 * receive_override_options (Postfix's input_transp.c): what this smtpd
 * service leaves out, typically on the re-injection service behind a content
 * filter (FILTER_README), so that the filtered mail is not checked, rewritten
 * or filtered twice.
 *
 *   no_unknown_recipient_checks  smtpd: no reject_unlisted_recipient checks
 *   no_address_mappings          cleanup: no canonical, virtual alias, masquerading, BCC maps
 *   no_header_body_checks        cleanup: no header_checks/body_checks
 *   no_milters                   no smtpd_milters
 */
import type { CleanupFlags, ConfigView } from '@postern/core';

export type InputTransp = 'no_unknown_recipient_checks' | 'no_address_mappings' | 'no_header_body_checks' | 'no_milters';

const KNOWN = new Set<string>(['no_unknown_recipient_checks', 'no_address_mappings', 'no_header_body_checks', 'no_milters']);

export function inputTransp(config: ConfigView, warn: (text: string) => void): ReadonlySet<InputTransp> {
  const out = new Set<InputTransp>();
  for (const word of config.list('receive_override_options')) {
    const w = word.toLowerCase();
    if (!KNOWN.has(w)) warn(`receive_override_options: unknown option "${word}" (ignored)`);
    else out.add(w as InputTransp);
  }
  return out;
}

/** The cleanup flags of these options (input_transp_cleanup). */
export function transpCleanupFlags(transp: ReadonlySet<InputTransp>): CleanupFlags {
  return {
    ...(transp.has('no_address_mappings') && { noAddressMappings: true, noBccMaps: true }),
    ...(transp.has('no_header_body_checks') && { noHeaderBodyChecks: true }),
  };
}
