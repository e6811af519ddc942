/**
 * The protocol and cipher options of smtpd's TLS context (Postfix's smtpd.c
 * pre_jail_init and tls_server_init): smtpd_tls_protocols and
 * smtpd_tls_ciphers with opportunistic TLS; smtpd_tls_mandatory_protocols and
 * smtpd_tls_mandatory_ciphers where TLS is enforced (smtpd_tls_security_level
 * = encrypt, the obsolete smtpd_enforce_tls, or smtpd_tls_wrappermode).
 * smtpd_tls_exclude_ciphers applies always, smtpd_tls_mandatory_exclude_ciphers
 * also where TLS is enforced, and aNULL where a client certificate is asked
 * for. How the lists become Node.js options (a contiguous protocol range; a
 * cipher string that leaves the TLS 1.3 suites alone): tls-openssl.ts of
 * @postern/smtp-client.
 */
import type { ConfigView, Logger } from '@postern/core';
import { cipherList, protocolRange, type NodeTlsVersion } from '@postern/smtp-client';

export interface SmtpdTlsProtocolOptions {
  readonly minVersion?: NodeTlsVersion;
  readonly maxVersion?: NodeTlsVersion;
  readonly ciphers: string;
}

/** Is TLS enforced, as Postfix decides it for the protocol and cipher choice? */
export function smtpdEnforceTls(config: ConfigView): boolean {
  if (config.bool('smtpd_tls_wrappermode')) return true;
  const level = config.get('smtpd_tls_security_level').trim().toLowerCase();
  return level ? level === 'encrypt' : config.bool('smtpd_enforce_tls');
}

/** The options, or undefined (logged) when a list is invalid: TLS is then off, as in Postfix. */
export function smtpdTlsProtocolOptions(config: ConfigView, log: Logger, askCcert: boolean): SmtpdTlsProtocolOptions | undefined {
  const enforce = smtpdEnforceTls(config);
  const protocolParam = enforce ? 'smtpd_tls_mandatory_protocols' : 'smtpd_tls_protocols';
  const range = protocolRange(config.get(protocolParam));
  if (range.error) {
    log.warn(`${protocolParam}: ${range.error}: disabling TLS support`);
    return undefined;
  }
  if (range.warning) log.warn(`${protocolParam}: ${range.warning}`);
  const gradeParam = enforce ? 'smtpd_tls_mandatory_ciphers' : 'smtpd_tls_ciphers';
  const exclusions = [config.get('smtpd_tls_exclude_ciphers')];
  if (enforce) exclusions.push(config.get('smtpd_tls_mandatory_exclude_ciphers'));
  if (askCcert) exclusions.push('aNULL');
  const cipher = cipherList(config.get(gradeParam), exclusions, (name) => config.get(name));
  if ('error' in cipher) {
    log.warn(`${gradeParam}: ${cipher.error}: disabling TLS support`);
    return undefined;
  }
  return {
    ciphers: cipher.ciphers,
    ...(range.minVersion && { minVersion: range.minVersion }),
    ...(range.maxVersion && { maxVersion: range.maxVersion }),
  };
}
