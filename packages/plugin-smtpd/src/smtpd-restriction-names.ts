/**
 * The restriction names smtpd itself knows (smtpd-check.ts), declared in the
 * plugin definition so that `postern check` can tell a name no installed
 * package provides from one smtpd or a plugin serves. A test keeps this
 * list and smtpd-check.ts's switch the same.
 */
export const SMTPD_RESTRICTIONS: readonly string[] = [
  'check_client_access',
  'check_helo_access',
  'check_policy_service',
  'check_recipient_access',
  'check_sender_access',
  'defer',
  'defer_if_permit',
  'defer_if_reject',
  'defer_unauth_destination',
  'dunno',
  'permit',
  'permit_auth_destination',
  'permit_mx_backup',
  'permit_mynetworks',
  'permit_sasl_authenticated',
  'permit_tls_all_clientcerts',
  'permit_tls_clientcerts',
  'reject',
  'reject_invalid_helo_hostname',
  'reject_invalid_hostname',
  'reject_non_fqdn_helo_hostname',
  'reject_non_fqdn_hostname',
  'reject_non_fqdn_recipient',
  'reject_non_fqdn_sender',
  'reject_unauth_destination',
  'reject_unauth_pipelining',
  'reject_unknown_client',
  'reject_unknown_client_hostname',
  'reject_unknown_recipient_domain',
  'reject_unknown_sender_domain',
  'reject_unlisted_recipient',
  'reject_unlisted_sender',
  'warn_if_reject',
];
