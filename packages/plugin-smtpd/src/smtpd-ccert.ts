/**
 * The client certificate of a TLS session (smtpd_tls_ask_ccert), as
 * Postfix's tls_server.c records it for the logs and for policy servers
 * (SMTPD_POLICY_README ccert_* attributes): the subject and issuer
 * CommonNames (reported only when the certificate verified against
 * smtpd_tls_CAfile: "trusted"), and the fingerprints of the certificate and
 * of its public key with smtpd_tls_fingerprint_digest, as colon-separated
 * upper-case hex bytes (reported whenever a certificate was presented).
 */
import { createHash, X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';

export interface PeerCertificate {
  readonly trusted: boolean;
  readonly subjectCN: string;
  readonly issuerCN: string;
  readonly fingerprint: string;
  readonly pubkeyFingerprint: string;
}

const hexColons = (b: Buffer) => b.toString('hex').toUpperCase().replace(/(..)(?!$)/g, '$1:');

const firstCN = (cn: string | string[] | undefined) => (Array.isArray(cn) ? (cn[0] ?? '') : (cn ?? ''));

/** The certificate the client presented, or undefined when it presented none. */
export function peerCertificate(socket: TLSSocket, digest: string): PeerCertificate | undefined {
  const cert = socket.getPeerCertificate();
  if (!cert || !cert.raw) return undefined;
  const spki = new X509Certificate(cert.raw).publicKey.export({ type: 'spki', format: 'der' });
  return {
    trusted: socket.authorized,
    subjectCN: firstCN(cert.subject?.CN),
    issuerCN: firstCN(cert.issuer?.CN),
    fingerprint: hexColons(createHash(digest).update(cert.raw).digest()),
    pubkeyFingerprint: hexColons(createHash(digest).update(spki).digest()),
  };
}

/** xtext (RFC 3461) as xtext_quote() writes it: "+XX" for '+', '=' and bytes outside '!'..'~'. */
export function xtext(text: string): string {
  let out = '';
  for (const c of Buffer.from(text, 'utf8')) out += c < 0x21 || c > 0x7e || c === 0x2b || c === 0x3d ? `+${c.toString(16).toUpperCase().padStart(2, '0')}` : String.fromCharCode(c);
  return out;
}
